"""What a loaded model takes in GPU memory, sized the way Ollama 0.34 sizes it (as 0.32 did): weights, KV cache,
projector.

- weights: the lock's ``size`` (``/api/tags``: every layer of the model, the vision projector's GGUF included);
- KV cache: ``OLLAMA_NUM_PARALLEL`` × context × the model's bytes per token, f16 keys and values over every
  attention layer, from ``/api/show`` model_info (block_count, embedding_length, head_count, head_count_kv,
  key_length, value_length), as ``fs/ggml.GraphSize`` counts it. The context is capped at the model's trained
  ``context_length`` (Ollama does the same), and when ``OLLAMA_CONTEXT_LENGTH`` is unset Ollama picks it from the
  GPU memory (``server/routes.go``): 4096 tokens below 23 GiB, 32768 below 47 GiB, else 262144;
- the vision projector's compute buffer: one image through the encoder at f32 (the input pixels, four hidden
  states and the feed-forward per position, one attention matrix per head), from ``projector_info`` ``clip.vision.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.gateway import OllamaGateway
from app.lock import Lock

F16_BYTES = 2
F32_BYTES = 4
GIB = 1024**3
DEFAULT_CONTEXTS = ((47 * GIB, 262144), (23 * GIB, 32768), (0, 4096))
"""Ollama 0.34.0's context when OLLAMA_CONTEXT_LENGTH is unset (server/routes.go, unchanged since 0.32.15): (total GPU
memory at least, tokens)."""


@dataclass(frozen=True)
class ModelMemory:
    """The per-model facts the GPU-memory check needs, read once from ``/api/show``."""

    ref: str
    weights: int
    kv_bytes_per_token: int
    trained_context: int | None
    projector: int

    def context(self, asked: int) -> int:
        """The context Ollama runs this model with: the asked one, capped at the trained one."""
        return min(asked, self.trained_context) if self.trained_context else asked

    def kv_cache(self, num_parallel: int, context: int) -> int:
        return num_parallel * self.context(context) * self.kv_bytes_per_token

    def total(self, num_parallel: int, context: int) -> int:
        return self.weights + self.kv_cache(num_parallel, context) + self.projector


def _per_layer(value: Any, layers: int) -> list[int]:
    """A head count is one number for every layer or a list of one per layer (0 = no attention there)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [int(v) for v in value]
    return [int(value)] * layers


def kv_bytes_per_token(info: Mapping[str, Any]) -> int:
    """Bytes of f16 keys and values one token of context takes, summed over the attention layers."""
    arch = str(info["general.architecture"])
    layers = int(info[f"{arch}.block_count"])
    heads = _per_layer(info[f"{arch}.attention.head_count"], layers)
    heads_kv = _per_layer(info.get(f"{arch}.attention.head_count_kv", info[f"{arch}.attention.head_count"]), layers)
    attention_heads = [h for h in heads if h > 0]
    head_dim = int(info[f"{arch}.embedding_length"]) // min(attention_heads) if attention_heads else 0
    key = int(info.get(f"{arch}.attention.key_length", head_dim))
    value = int(info.get(f"{arch}.attention.value_length", head_dim))
    return sum(kv * (key + value) * F16_BYTES for h, kv in zip(heads, heads_kv, strict=True) if h > 0 and kv > 0)


def projector_bytes(projector: Mapping[str, Any]) -> int:
    """The image encoder's compute buffer for one image (0 without a projector)."""
    size = int(projector.get("clip.vision.image_size") or 0)
    patch = int(projector.get("clip.vision.patch_size") or 0)
    if not size or not patch:
        return 0
    positions = (size // patch) ** 2 + 1
    embedding = int(projector.get("clip.vision.embedding_length") or 0)
    ffn = int(projector.get("clip.vision.feed_forward_length") or 4 * embedding)
    heads = int(projector.get("clip.vision.attention.head_count") or 1)
    return F32_BYTES * (3 * size * size + positions * (4 * embedding + ffn) + heads * positions * positions)


def default_context(gpu_memory: int) -> int:
    return next(tokens for least, tokens in DEFAULT_CONTEXTS if gpu_memory >= least)


def read(gateway: OllamaGateway, lock: Lock) -> dict[str, ModelMemory]:
    """Each locked model's memory facts from the Ollama the lock was compared with."""
    facts = {}
    for model in lock.models:
        details = gateway.show(model.ref)
        facts[model.ref] = ModelMemory(
            ref=model.ref,
            weights=model.size,
            kv_bytes_per_token=kv_bytes_per_token(details.model_info),
            trained_context=details.context_length,
            projector=projector_bytes(details.projector_info),
        )
    return facts
