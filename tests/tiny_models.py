"""Tiny random-weight models in the layouts the Ollama library serves for the catalog's models, for the load matrix.

Each is written here with PyPI ``gguf``, at a few hundred KB: small widths, two layers, a small vocabulary. What
decides whether a model loads, and what a picture costs, is kept as the library's files have it: the files (text
model + projector, or one file with the vision tower inside), the architecture names, the metadata keys and tensor
names (Ollama's own names for the one-file models, which its compat layer translates at load time), the encoder's
image and patch size, its class token, the projector type or its absence, and the tokens that mark a picture.
Weights are random with a fixed seed, so the same bytes every time: the answers are noise, the load is real.

The layouts were learnt from Ollama 0.34.0's converters and compat layer and llama.cpp b10760's loaders (the
catalog cites the files); no weights were downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import gguf
import httpx
import numpy as np

EMBD = 64
HEADS = 4
HEADS_KV = 2
FFN = 128
LAYERS = 2
CONTEXT = 4096
HEAD_DIM = EMBD // HEADS

WORDS = [
    "the",
    "a",
    "picture",
    "of",
    "is",
    "in",
    "on",
    "and",
    "with",
    "red",
    "green",
    "blue",
    "colour",
    "shows",
    "there",
    "it",
    "this",
    "an",
    "image",
]
ASCII = tuple(chr(c) for c in range(ord("!"), ord("~") + 1))
"""Printable ASCII: the tiny vocabularies hold nothing beyond ASCII, so no answer can end in half a UTF-8 character
(a random model that does makes Ollama drop the answer's final statistics)."""

TEMPLATE = "{{ .Prompt }}"
"""The Go template every tiny model carries: the library's models carry one (Ollama renders their prompt itself),
and this one puts the picture first, so the text after it tokenizes the same with and without it and the
difference in ``prompt_eval_count`` is the picture's positions alone."""

NORMAL, CONTROL = int(gguf.TokenType.NORMAL), int(gguf.TokenType.CONTROL)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """A weight in numpy order (rows = outputs), small so activations stay finite."""
    return (rng.standard_normal(shape) * 0.02).astype(np.float32)


def _ones(n: int) -> np.ndarray:
    return np.ones(n, np.float32)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, np.float32)


# --- vocabularies -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """A tokenizer's GGUF keys: SentencePiece (``llama``) or GPT-2 byte-level BPE (``gpt2``)."""

    model: str
    tokens: tuple[str, ...]
    types: tuple[int, ...]
    scores: tuple[float, ...] = ()
    merges: tuple[str, ...] = ()
    bos: int = 1
    eos: int = 2

    def write(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_token_list(list(self.tokens))
        writer.add_token_types(list(self.types))
        if self.scores:
            writer.add_token_scores(list(self.scores))
        if self.merges:
            writer.add_token_merges(list(self.merges))
        writer.add_bos_token_id(self.bos)
        writer.add_eos_token_id(self.eos)


def spm_vocab(specials: tuple[str, ...] = ()) -> Vocab:
    """SentencePiece: ``<unk> <s> </s>``, the ASCII byte pieces (llama.cpp looks up ``<0x0A>``), the word marker,
    printable ASCII, a few words, and the model's own control tokens (``specials``)."""
    pieces = ("▁", *ASCII, *(f"▁{w}" for w in WORDS))
    tokens = ("<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(128)), *pieces, *specials)
    types: tuple[int, ...] = (int(gguf.TokenType.UNKNOWN), CONTROL, CONTROL, *(int(gguf.TokenType.BYTE),) * 128)
    types += (NORMAL,) * len(pieces) + (CONTROL,) * len(specials)
    scores = (0.0,) * 131 + tuple(-float(i) for i in range(len(pieces))) + (0.0,) * len(specials)
    return Vocab("llama", tokens, types, scores, bos=1, eos=2)


def bpe_vocab(specials: tuple[str, ...] = ("<|endoftext|>",)) -> Vocab:
    """GPT-2 byte-level BPE: printable ASCII, ``Ġ`` (space) and ``Ċ`` (newline), a few merges, then ``specials``
    (the first is BOS and EOS, as GPT-2's ``<|endoftext|>``)."""
    merges = ("Ġ t", "h e", "Ġt he", "i s", "Ġ a")
    normal = (*ASCII, "Ġ", "Ċ", *(m.replace(" ", "") for m in merges))
    tokens = (*normal, *specials)
    types = (NORMAL,) * len(normal) + (CONTROL,) * len(specials)
    return Vocab("gpt2", tokens, types, merges=merges, bos=len(normal), eos=len(normal))


# --- text models ------------------------------------------------------------------------------------------


def _llama_blocks(rng: np.random.Generator, *, qkv_bias: bool = False) -> dict[str, np.ndarray]:
    kv = HEADS_KV * HEAD_DIM
    out: dict[str, np.ndarray] = {}
    for i in range(LAYERS):
        b = f"blk.{i}"
        out |= {
            f"{b}.attn_norm.weight": _ones(EMBD),
            f"{b}.attn_q.weight": _w(rng, EMBD, EMBD),
            f"{b}.attn_k.weight": _w(rng, kv, EMBD),
            f"{b}.attn_v.weight": _w(rng, kv, EMBD),
            f"{b}.attn_output.weight": _w(rng, EMBD, EMBD),
            f"{b}.ffn_norm.weight": _ones(EMBD),
            f"{b}.ffn_gate.weight": _w(rng, FFN, EMBD),
            f"{b}.ffn_up.weight": _w(rng, FFN, EMBD),
            f"{b}.ffn_down.weight": _w(rng, EMBD, FFN),
        }
        if qkv_bias:
            out |= {f"{b}.attn_q.bias": _zeros(EMBD), f"{b}.attn_k.bias": _zeros(kv), f"{b}.attn_v.bias": _zeros(kv)}
    return out


def _llama_tensors(rng: np.random.Generator, n_vocab: int) -> dict[str, np.ndarray]:
    """Llama (and Mistral, and Phi-3 as xtuner re-lays it out for llava-phi3): RMSNorm, separate Q/K/V, SwiGLU."""
    out = {"token_embd.weight": _w(rng, n_vocab, EMBD), **_llama_blocks(rng)}
    return out | {"output_norm.weight": _ones(EMBD), "output.weight": _w(rng, n_vocab, EMBD)}


def _phi2_tensors(rng: np.random.Generator, n_vocab: int) -> dict[str, np.ndarray]:
    """Phi-2 (moondream's text model): LayerNorm with bias, a fused QKV with bias, a GELU MLP, a biased output."""
    out = {"token_embd.weight": _w(rng, n_vocab, EMBD)}
    for i in range(LAYERS):
        b = f"blk.{i}"
        out |= {
            f"{b}.attn_norm.weight": _ones(EMBD),
            f"{b}.attn_norm.bias": _zeros(EMBD),
            f"{b}.attn_qkv.weight": _w(rng, 3 * EMBD, EMBD),
            f"{b}.attn_qkv.bias": _zeros(3 * EMBD),
            f"{b}.attn_output.weight": _w(rng, EMBD, EMBD),
            f"{b}.attn_output.bias": _zeros(EMBD),
            f"{b}.ffn_up.weight": _w(rng, FFN, EMBD),
            f"{b}.ffn_up.bias": _zeros(FFN),
            f"{b}.ffn_down.weight": _w(rng, EMBD, FFN),
            f"{b}.ffn_down.bias": _zeros(EMBD),
        }
    out |= {"output_norm.weight": _ones(EMBD), "output_norm.bias": _zeros(EMBD)}
    return out | {"output.weight": _w(rng, n_vocab, EMBD), "output.bias": _zeros(n_vocab)}


def _text_keys(writer: gguf.GGUFWriter, name: str, *, heads_kv: int = HEADS_KV) -> None:
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBD)
    writer.add_feed_forward_length(FFN)
    writer.add_block_count(LAYERS)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(heads_kv)


def _finish(writer: gguf.GGUFWriter, tensors: Mapping[str, np.ndarray]) -> None:
    for tensor, data in tensors.items():
        writer.add_tensor(tensor, np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_llama(path: Path, name: str, specials: tuple[str, ...] = ()) -> Path:
    vocab = spm_vocab(specials)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    _text_keys(writer, name)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    vocab.write(writer)
    _finish(writer, _llama_tensors(_rng(name), len(vocab.tokens)))
    return path


def write_phi2(path: Path, name: str) -> Path:
    vocab = bpe_vocab()
    writer = gguf.GGUFWriter(str(path), arch="phi2")
    _text_keys(writer, name, heads_kv=HEADS)
    writer.add_rope_dimension_count(HEAD_DIM // 2)  # partial rotary, as Phi-2's 32 of 80
    writer.add_layer_norm_eps(1e-5)
    vocab.write(writer)
    _finish(writer, _phi2_tensors(_rng(name), len(vocab.tokens)))
    return path


# --- separate projectors (LLaVA-style CLIP + MLP) ---------------------------------------------------------


@dataclass(frozen=True)
class Encoder:
    """A CLIP-style vision encoder and LLaVA projector as the library's projector files carry them."""

    image_size: int
    patch_size: int = 14
    class_token: bool = True
    """CLIP ViT-L has a class embedding (dropped before the projector); SigLIP (moondream) has none."""
    projector_type: str | None = "mlp"
    """``clip.projector_type``; None writes no key, as the LLaVA 1.5-era files (bakllava) of the library."""
    width: int = 32
    layers: int = 2
    heads: int = 4
    ffn: int = 48


def write_projector(path: Path, encoder: Encoder, name: str) -> Path:
    """A projector GGUF (``general.type = projector``) whose embeddings have the text model's width."""
    rng, e = _rng(f"{name} projector"), encoder
    positions = (e.image_size // e.patch_size) ** 2 + (1 if e.class_token else 0)
    writer = gguf.GGUFWriter(str(path), arch="clip")
    writer.add_type("projector")
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_llava_projector", True)
    writer.add_bool("clip.use_gelu", True)
    if e.projector_type is not None:
        writer.add_string("clip.projector_type", e.projector_type)
    writer.add_uint32("clip.vision.image_size", e.image_size)
    writer.add_uint32("clip.vision.patch_size", e.patch_size)
    writer.add_uint32("clip.vision.embedding_length", e.width)
    writer.add_uint32("clip.vision.feed_forward_length", e.ffn)
    writer.add_uint32("clip.vision.block_count", e.layers)
    writer.add_uint32("clip.vision.projection_dim", EMBD)
    writer.add_uint32("clip.vision.attention.head_count", e.heads)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", [0.48145466, 0.4578275, 0.40821073])
    writer.add_array("clip.vision.image_std", [0.26862954, 0.26130258, 0.27577711])
    tensors = {
        "v.patch_embd.weight": _w(rng, e.width, 3, e.patch_size, e.patch_size),
        "v.position_embd.weight": _w(rng, positions, e.width),
        "v.pre_ln.weight": _ones(e.width),
        "v.pre_ln.bias": _zeros(e.width),
    }
    if e.class_token:
        tensors["v.class_embd"] = _w(rng, e.width)
    tensors |= _vit_blocks(rng, e.width, e.ffn, e.layers, norm="ln", out="attn_out", norm_bias=True)
    tensors |= {
        "mm.0.weight": _w(rng, EMBD, e.width),
        "mm.0.bias": _zeros(EMBD),
        "mm.2.weight": _w(rng, EMBD, EMBD),
        "mm.2.bias": _zeros(EMBD),
    }
    _finish(writer, tensors)
    return path


def _vit_blocks(
    rng: np.random.Generator, width: int, ffn: int, layers: int, *, norm: str, out: str, norm_bias: bool
) -> dict[str, np.ndarray]:
    """Vision transformer layers: attention with biases, two norms (``ln1``/``ln2`` as llama.cpp names them,
    ``layer_norm1``/``layer_norm2`` as Ollama's gemma3 files do), and a two-layer MLP in the legacy naming
    (``ffn_down`` holds fc1, ``ffn_up`` fc2; llama.cpp recognises the swap by shape)."""
    tensors: dict[str, np.ndarray] = {}
    norms = ("ln1", "ln2") if norm == "ln" else ("layer_norm1", "layer_norm2")
    for i in range(layers):
        b = f"v.blk.{i}"
        for part in ("attn_q", "attn_k", "attn_v", out):
            tensors |= {f"{b}.{part}.weight": _w(rng, width, width), f"{b}.{part}.bias": _zeros(width)}
        for n in norms:
            tensors[f"{b}.{n}.weight"] = _ones(width)
            if norm_bias:
                tensors[f"{b}.{n}.bias"] = _zeros(width)
        fc1, fc2 = ("ffn_down", "ffn_up") if norm == "ln" else ("mlp.fc1", "mlp.fc2")
        tensors |= {
            f"{b}.{fc1}.weight": _w(rng, ffn, width),
            f"{b}.{fc1}.bias": _zeros(ffn),
            f"{b}.{fc2}.weight": _w(rng, width, ffn),
            f"{b}.{fc2}.bias": _zeros(width),
        }
    return tensors


# --- one-file vision models, in Ollama's own naming -------------------------------------------------------

VISION_WIDTH = 32
VISION_FFN = 48


def write_gemma3(path: Path, name: str) -> Path:
    """Gemma 3 as Ollama's converter writes it (convert/convert_gemma3.go): text and SigLIP tower in one file,
    Ollama's tensor names (``v.patch_embedding``, ``mlp.fc1``, ``mm.mm_input_projection``…), no RMS epsilon key;
    the compat layer adds what llama.cpp needs and serves the same file as the projector (896 px, 14 px patches,
    pooled 4x4 into 256 embeddings between ``<start_of_image>`` and ``<end_of_image>``)."""
    rng, image, patch = _rng(name), 896, 14
    vocab = spm_vocab(("<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"))
    writer = gguf.GGUFWriter(str(path), arch="gemma3")
    _text_keys(writer, name)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_sliding_window(1024)
    writer.add_uint32("gemma3.mm.tokens_per_image", 256)
    for key, value in (("block_count", LAYERS), ("embedding_length", VISION_WIDTH)):
        writer.add_uint32(f"gemma3.vision.{key}", value)
    writer.add_uint32("gemma3.vision.feed_forward_length", VISION_FFN)
    writer.add_uint32("gemma3.vision.image_size", image)
    writer.add_uint32("gemma3.vision.patch_size", patch)
    writer.add_uint32("gemma3.vision.num_channels", 3)
    writer.add_uint32("gemma3.vision.attention.head_count", 4)
    writer.add_float32("gemma3.vision.attention.layer_norm_epsilon", 1e-6)
    vocab.write(writer)
    tensors = {"token_embd.weight": _w(rng, len(vocab.tokens), EMBD), "output_norm.weight": _ones(EMBD)}
    kv = HEADS_KV * HEAD_DIM
    for i in range(LAYERS):
        b = f"blk.{i}"
        tensors |= {
            f"{b}.attn_norm.weight": _ones(EMBD),
            f"{b}.attn_q.weight": _w(rng, EMBD, EMBD),
            f"{b}.attn_k.weight": _w(rng, kv, EMBD),
            f"{b}.attn_v.weight": _w(rng, kv, EMBD),
            f"{b}.attn_output.weight": _w(rng, EMBD, EMBD),
            f"{b}.attn_q_norm.weight": _ones(HEAD_DIM),
            f"{b}.attn_k_norm.weight": _ones(HEAD_DIM),
            f"{b}.post_attention_norm.weight": _ones(EMBD),
            f"{b}.ffn_norm.weight": _ones(EMBD),
            f"{b}.ffn_gate.weight": _w(rng, FFN, EMBD),
            f"{b}.ffn_up.weight": _w(rng, FFN, EMBD),
            f"{b}.ffn_down.weight": _w(rng, EMBD, FFN),
            f"{b}.post_ffw_norm.weight": _ones(EMBD),
        }
    w = VISION_WIDTH
    tensors |= {
        "v.patch_embedding.weight": _w(rng, w, 3, patch, patch),
        "v.patch_embedding.bias": _zeros(w),
        "v.position_embedding.weight": _w(rng, (image // patch) ** 2, w),
        **_vit_blocks(rng, w, VISION_FFN, LAYERS, norm="layer_norm", out="attn_output", norm_bias=True),
        "v.post_layernorm.weight": _ones(w),
        "v.post_layernorm.bias": _zeros(w),
        "mm.mm_input_projection.weight": _w(rng, w, EMBD),
        "mm.mm_soft_emb_norm.weight": _ones(w),
    }
    _finish(writer, tensors)
    return path


def write_qwen25vl(path: Path, name: str) -> Path:
    """Qwen2.5-VL as Ollama's converter writes it (convert/convert_qwen25vl.go): the Qwen2 text model with Q/K/V
    biases and M-RoPE sections, and the vision tower in the same file (two temporal patch kernels, RMSNorm,
    SwiGLU, window attention, the 2x2 merger); the compat layer maps it to llama.cpp's ``qwen2vl`` and
    ``qwen2.5vl_merger``. A picture's tokens follow its size, between ``<|vision_start|>`` and ``<|vision_end|>``."""
    rng, patch = _rng(name), 14
    specials = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
    vocab = bpe_vocab(specials)
    writer = gguf.GGUFWriter(str(path), arch="qwen25vl")
    _text_keys(writer, name)
    writer.add_rope_freq_base(1e6)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_array("qwen25vl.rope.mrope_section", [2, 3, 3])  # sums to HEAD_DIM / 2, as [16, 24, 24] to 64
    vision = {
        "block_count": LAYERS,
        "embedding_length": VISION_WIDTH,
        "attention.head_count": 4,
        "num_channels": 3,
        "patch_size": patch,
        "spatial_merge_size": 2,
        "spatial_patch_size": patch,
        "window_size": 112,
        "temporal_patch_size": 2,
    }
    for key, value in vision.items():
        writer.add_uint32(f"qwen25vl.vision.{key}", value)
    writer.add_float32("qwen25vl.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_float32("qwen25vl.vision.rope.freq_base", 1e4)
    writer.add_array("qwen25vl.vision.fullatt_block_indexes", [LAYERS - 1])
    vocab.write(writer)
    tensors = {"token_embd.weight": _w(rng, len(vocab.tokens), EMBD), **_llama_blocks(rng, qkv_bias=True)}
    tensors |= {"output_norm.weight": _ones(EMBD), "output.weight": _w(rng, len(vocab.tokens), EMBD)}
    w, merged = VISION_WIDTH, 4 * VISION_WIDTH
    tensors |= {
        "v.patch_embd_0.weight": _w(rng, w, 3, patch, patch),
        "v.patch_embd_1.weight": _w(rng, w, 3, patch, patch),
    }
    for i in range(LAYERS):
        b = f"v.blk.{i}"
        for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors |= {f"{b}.{part}.weight": _w(rng, w, w), f"{b}.{part}.bias": _zeros(w)}
        tensors |= {f"{b}.ln1.weight": _ones(w), f"{b}.ln2.weight": _ones(w)}
        for part in ("ffn_gate", "ffn_up"):
            tensors |= {f"{b}.{part}.weight": _w(rng, VISION_FFN, w), f"{b}.{part}.bias": _zeros(VISION_FFN)}
        tensors |= {f"{b}.ffn_down.weight": _w(rng, w, VISION_FFN), f"{b}.ffn_down.bias": _zeros(w)}
    tensors |= {
        "v.merger.ln_q.weight": _ones(w),
        "v.merger.mlp.0.weight": _w(rng, merged, merged),
        "v.merger.mlp.0.bias": _zeros(merged),
        "v.merger.mlp.2.weight": _w(rng, EMBD, merged),
        "v.merger.mlp.2.bias": _zeros(EMBD),
    }
    _finish(writer, tensors)
    return path


def write_mllama(path: Path, name: str) -> Path:
    """Llama 3.2 Vision as Ollama's converter writes it (convert/convert_mllama.go): architecture ``mllama``, the
    ``mllama.vision.*`` keys (the vision capability) and the vision tower in the same file. Only the header
    matters: llama.cpp b10760 has no ``mllama`` architecture and stops there."""
    rng, vocab = _rng(name), spm_vocab()
    writer = gguf.GGUFWriter(str(path), arch="mllama")
    _text_keys(writer, name)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_array("mllama.attention.cross_attention_layers", [1])
    for key, value in (("block_count", LAYERS), ("embedding_length", VISION_WIDTH), ("image_size", 560)):
        writer.add_uint32(f"mllama.vision.{key}", value)
    writer.add_uint32("mllama.vision.patch_size", 14)
    writer.add_uint32("mllama.vision.max_num_tiles", 4)
    vocab.write(writer)
    tensors = {"token_embd.weight": _w(rng, len(vocab.tokens), EMBD), **_llama_blocks(rng)}
    tensors |= {"output_norm.weight": _ones(EMBD), "v.patch_embd.weight": _w(rng, VISION_WIDTH, 3, 14, 14)}
    _finish(writer, tensors)
    return path


# --- the library's models ---------------------------------------------------------------------------------

MODEL, PROJECTOR = "application/vnd.ollama.image.model", "application/vnd.ollama.image.projector"


@dataclass(frozen=True)
class Layout:
    """The files the Ollama library serves for one model, and what llama.cpp makes of them."""

    text: str
    """``general.architecture`` of the model file."""
    write_model: Callable[[Path, str], Path]
    encoder: Encoder | None = None
    """A separate projector file; None for a text model or a one-file vision model."""
    projector: str | None = None
    """The projector type llama.cpp's mtmd code ends up with (after Ollama's compat layer); for a model that does
    not load, the vision tower the file carries."""

    def write(self, folder: Path, name: str) -> list[tuple[Path, str]]:
        """The files and their layer media types, model first."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = name.replace("/", "-").replace(":", "-")
        files = [(self.write_model(folder / f"{stem}.gguf", name), MODEL)]
        if self.encoder is not None:
            files.append((write_projector(folder / f"{stem}-projector.gguf", self.encoder, name), PROJECTOR))
        return files


PHI3_SPECIALS = ("<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>")
"""Phi-3's control tokens: llama.cpp looks ``<|endoftext|>`` up by name for any model whose name says Phi-3."""

LIBRARY: Mapping[str, Layout] = {
    # LLaVA 1.6 as the library serves it: a 336 px CLIP projector with no AnyRes grid (its log in
    # ollama/ollama#2706 reads "key clip.vision.image_grid_pinpoints not found").
    "llava:7b": Layout("llama", write_llama, Encoder(336), "mlp"),
    # BakLLaVA: a LLaVA 1.5-era projector without clip.projector_type; Ollama's compat layer sets "mlp".
    "bakllava:7b": Layout("llama", write_llama, Encoder(336, projector_type=None), "mlp"),
    # moondream2: Phi-2 and a SigLIP encoder (378 px, no class token).
    "moondream:latest": Layout("phi2", write_phi2, Encoder(378, class_token=False), "mlp"),
    # llava-phi3: xtuner re-lays Phi-3 Mini out as Llama for GGUF (InternLM/xtuner#659); its vocabulary is Phi-3's.
    "llava-phi3:3.8b": Layout("llama", lambda p, n: write_llama(p, n, PHI3_SPECIALS), Encoder(336), "mlp"),
    # Llama 3.2 Vision: one mllama file; "mllama" names its vision tower, which no llama.cpp code runs.
    "llama3.2-vision:11b": Layout("mllama", write_mllama, projector="mllama"),
    "qwen2.5vl:7b": Layout("qwen25vl", write_qwen25vl, projector="qwen2.5vl_merger"),
    "gemma3:4b": Layout("gemma3", write_gemma3, projector="gemma3"),
    "mistral:latest": Layout("llama", write_llama),
}
"""Catalog name -> the layout of what the Ollama library serves for it (the catalog's ``architecture`` says the same,
and the load matrix checks that they agree)."""


# --- serving them from a registry, as the library does ----------------------------------------------------


def _blob(base: str, data: bytes, media_type: str) -> dict[str, object]:
    """Upload one blob (OCI distribution API, monolithic upload); its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if httpx.head(f"{base}/blobs/{digest}", timeout=30).status_code != 200:
        started = httpx.post(f"{base}/blobs/uploads/", timeout=30)
        started.raise_for_status()
        location = started.headers["location"]
        url = location if location.startswith("http") else f"{base.split('/v2/')[0]}{location}"
        sep = "&" if "?" in url else "?"
        httpx.put(f"{url}{sep}digest={digest}", content=data, timeout=60).raise_for_status()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def publish(registry: str, repository: str, tag: str, layout: Layout, folder: Path) -> str:
    """Write the model's files and push them to ``registry`` as an Ollama manifest (model, projector, template,
    config), byte for byte: a pull then stores them as they are, as a pull from the library does (``ollama
    create`` would add ``clip.projector_type`` to a projector without one). Returns the name to pull."""
    base = f"http://{registry}/v2/{repository}"
    layers = [_blob(base, path.read_bytes(), media) for path, media in layout.write(folder, f"{repository}:{tag}")]
    layers.append(_blob(base, TEMPLATE.encode(), "application/vnd.ollama.image.template"))
    families = [layout.text, *(["clip"] if layout.encoder is not None else [])]
    config = {
        "model_format": "gguf",
        "model_family": layout.text,
        "model_families": families,
        "model_type": "tiny",
        "file_type": "F32",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": _blob(base, json.dumps(config).encode(), "application/vnd.docker.container.image.v1+json"),
        "layers": layers,
    }
    headers = {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}
    httpx.put(f"{base}/manifests/{tag}", content=json.dumps(manifest), headers=headers, timeout=30).raise_for_status()
    return f"{registry}/{repository}:{tag}"
