"""The synthetic vision model's eyes: a projector GGUF, built in closed form, that sees one thing, colour.

No training and no download: every weight below is written by hand, so the same arguments give the same bytes on
every machine. The file is a LLaVA-style CLIP projector (``clip.projector_type = "mlp"``) that llama.cpp's mtmd code
in Ollama's runner loads. Its 16 image embeddings are the SmolLM2 token embeddings of one sentence,

    "The whole picture is plain <colour>. It is <colour>. It is only <colour>."

where <colour> is the test colour nearest to the picture's mean colour: red, green, blue, yellow, white or black.
The text model reads that sentence where the picture is, and the model's SYSTEM line ("Every picture you are
shown is a single flat colour...") makes it answer with the colour. How the layers do it (llama.cpp's llava graph
runs the encoder's layers 0..n-2 and has no final LayerNorm here):

- the patch embedding scores each 14x14 patch against each colour, ``2 m·p - |p|²`` for the patch's mean colour m
  and the colour's RGB corner p (the nearest corner has the highest score); a balance channel keeps LayerNorm's
  mean fixed, and constant ±K channels keep its scale steady to a fraction of a percent;
- the position embedding marks each position with its own channel;
- layer 0's attention has Q = K = 0, so every position receives the average of all positions' scores: the
  picture's mean colour, scored (a linear average, so padding and small objects move it a little);
- layer 0's feed-forward writes, for each ordered pair of colours, how far one beats the other (GELU is ReLU at
  this scale);
- the projector's hidden units fire for "this position" (fixed words) or "this position and this colour beats
  every other" (colour words) and write the matching token embedding.

Limits: it sees the mean colour only — a photo whose mean is nearest red is "red" even if no pixel is; two
colours within 0.002 of each other both speak at once; grey pictures are named by their nearest corner (white or
black); shapes, text, people and counts are invisible to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np

IMAGE_SIZE = 56
PATCH_SIZE = 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
"""Embeddings one picture becomes in the prompt: clip resizes every image to IMAGE_SIZE squared."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "white": (1, 1, 1),
    "black": (0, 0, 0),
}
"""The colours the model can name, each the RGB corner (0..1) it stands for."""

COLOUR = "{colour}"
SENTENCE: tuple[str, ...] = ("The", "Ġwhole", "Ġpicture", "Ġis", "Ġplain", COLOUR, ".", "ĠIt", "Ġis", COLOUR, ".")
SENTENCE += ("ĠIt", "Ġis", "Ġonly", COLOUR, ".")
"""The SmolLM2 tokens the image embeddings spell (Ġ is GPT-2's marker for a leading space), one per patch."""

NAME = "snap2prod colour projector v1"
"""The projector's ``general.name``; Ollama's /api/show reports it, so a model built from an older projector is
recognised and rebuilt. Change the version whenever the weights change."""

SYSTEM = "Every picture you are shown is a single flat colour. Describe it in one sentence."
"""The synthetic model's SYSTEM line: without it the 135M text model often tells a story instead."""

# CLIP's normalisation constants, as LLaVA projectors carry them.
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)

VIT_HEADS = 4
VIT_LAYERS = 2  # llama.cpp runs layers 0..n-2: layer 0 only; layer 1 is all zeros and never runs
K = 50.0  # the constant channels' magnitude: LayerNorm's variance is theirs, so its scale barely moves
SHARP = 1e4  # turns a score difference into a GELU input far outside [-10, 10], where GELU is ReLU (x or 0)
ON = 10.0  # a firing projector unit's value: ggml's GELU returns x exactly for x >= 10
GATE = 100.0  # how far a unit at the wrong position is pushed below zero

assert len(SENTENCE) == IMAGE_TOKENS


def _channels() -> dict[str, int]:
    """Name -> index of every residual channel; the rest of the width carries the ±K constants."""
    names = [f"score:{c}" for c in COLOURS] + ["balance"]
    names += [f"pos:{j}" for j in range(IMAGE_TOKENS)]
    names += [f"global:{c}" for c in COLOURS]
    names += [f"beats:{a}>{b}" for a in COLOURS for b in COLOURS if a != b]
    return {name: i for i, name in enumerate(names)}


CHANNELS = _channels()
CONSTANTS = 2 * 20  # ±K channels, in pairs so that they add nothing to LayerNorm's mean
WIDTH = len(CHANNELS) + CONSTANTS + (-(len(CHANNELS) + CONSTANTS)) % VIT_HEADS
FFN = len(COLOURS) * (len(COLOURS) - 1)


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def colour_embeddings(text_gguf: Path) -> dict[str, np.ndarray]:
    """Token -> embedding row (float32) for every token of SENTENCE and every colour, read from the text GGUF.

    The rows are dequantized from the file's own ``token_embd.weight``: the text model reads exactly the vectors
    it would have read for the words.
    """
    reader = gguf.GGUFReader(str(text_gguf))
    field = reader.fields["tokenizer.ggml.tokens"]
    ids = {bytes(field.parts[i]).decode(): n for n, i in enumerate(field.data)}
    wanted = {t for t in SENTENCE if t != COLOUR} | {f"Ġ{c}" for c in COLOURS}
    missing = sorted(t for t in wanted if t not in ids)
    if missing:
        raise ValueError(f"{text_gguf.name} has no token for {missing}")
    (table,) = (t for t in reader.tensors if t.name == "token_embd.weight")
    out: dict[str, np.ndarray] = {}
    for token in sorted(wanted):
        row = np.asarray(table.data[ids[token] : ids[token] + 1])
        out[token] = np.asarray(gguf.quants.dequantize(row, table.tensor_type), dtype=np.float32).reshape(-1)
    return out


def write_projector(path: Path, embeddings: Mapping[str, np.ndarray], colours: Mapping[str, str] | None = None) -> Path:
    """Write the colour projector for a text model whose token embeddings are ``embeddings`` (see above).

    ``colours`` maps the colour a picture has to the word the projector writes for it (identity by default); a
    test passes a swapped map to show that the colour tests catch a projector built wrong.
    """
    words = dict(colours or {c: c for c in COLOURS})
    hidden = len(next(iter(embeddings.values())))
    ch = CHANNELS
    const = list(range(len(ch), len(ch) + CONSTANTS))

    # Patch embedding: score:c = 2 m·p - |p|², with m the patch's mean colour in 0..1. clip feeds the conv
    # normalised pixels x = (v - mean) / std, so v = x·std + mean and the mean over 14x14 pixels is a sum / 196.
    patch_w = np.zeros((WIDTH, 3, PATCH_SIZE, PATCH_SIZE), dtype=np.float32)
    patch_b = np.zeros(WIDTH, dtype=np.float32)
    per_pixel = 1.0 / (PATCH_SIZE * PATCH_SIZE)
    for c, corner in COLOURS.items():
        for k in range(3):
            patch_w[ch[f"score:{c}"], k] = 2 * corner[k] * IMAGE_STD[k] * per_pixel
        patch_b[ch[f"score:{c}"]] = sum(2 * corner[k] * IMAGE_MEAN[k] for k in range(3)) - sum(corner)
    patch_w[ch["balance"]] = -patch_w[[ch[f"score:{c}"] for c in COLOURS]].sum(axis=0)
    patch_b[ch["balance"]] = -patch_b[[ch[f"score:{c}"] for c in COLOURS]].sum()
    for n, i in enumerate(const):
        patch_b[i] = K if n % 2 == 0 else -K

    # Position embedding: position j lights pos:j with K. Every position has one, so LayerNorm's mean and
    # variance stay the same at every position.
    position = np.zeros((IMAGE_TOKENS, WIDTH), dtype=np.float32)
    for j in range(IMAGE_TOKENS):
        position[j, ch[f"pos:{j}"]] = K

    # LayerNorm's scale at the nominal input (the scores' own share of the variance is ignored: under 0.3 %).
    mean = K / WIDTH
    sigma = float(np.sqrt((CONSTANTS * K * K + K * K) / WIDTH - mean * mean))
    # pre_ln: multiply back by sigma and re-add the mean, so its output is its input to within that fraction.
    # Channels that must start at exactly zero (global:*, beats:*, the padding) get weight and bias 0: a
    # re-added mean there would leave mean·(1 - scale) behind, and SHARP would magnify it.
    live = [ch[f"score:{c}"] for c in COLOURS] + [ch["balance"]] + [ch[f"pos:{j}"] for j in range(IMAGE_TOKENS)]
    live += const
    pre_w = np.zeros(WIDTH, dtype=np.float32)
    pre_b = np.zeros(WIDTH, dtype=np.float32)
    pre_w[live], pre_b[live] = sigma, mean
    # ln1 / ln2: same scale; the mean they subtract cancels in every difference used below.
    ln_w = np.full(WIDTH, sigma, dtype=np.float32)
    ln_b = np.full(WIDTH, mean, dtype=np.float32)

    # Attention: Q = K = 0, so softmax is uniform and each position receives the average of V over positions.
    v_w = np.zeros((WIDTH, WIDTH), dtype=np.float32)
    o_w = np.zeros((WIDTH, WIDTH), dtype=np.float32)
    for n, c in enumerate(COLOURS):
        v_w[n, ch[f"score:{c}"]] = 1.0  # V's first dimensions (head 0) carry the scores
        o_w[ch[f"global:{c}"], n] = 1.0

    # Feed-forward: unit (a, b) = GELU(SHARP · (global:a - global:b)), written back as beats:a>b = unit / SHARP.
    up_w = np.zeros((FFN, WIDTH), dtype=np.float32)
    down_w = np.zeros((WIDTH, FFN), dtype=np.float32)
    pairs = [(a, b) for a in COLOURS for b in COLOURS if a != b]
    for u, (a, b) in enumerate(pairs):
        up_w[u, ch[f"global:{a}"]] = SHARP
        up_w[u, ch[f"global:{b}"]] = -SHARP
        down_w[ch[f"beats:{a}>{b}"], u] = 1.0 / SHARP

    # Projector: one hidden unit per (position, word). A fixed word fires at its position; a colour word fires at
    # a colour position only when no colour beats it. mm.2 writes the word's embedding (a unit's value is ON).
    units: list[tuple[np.ndarray, float, np.ndarray]] = []
    for j, token in enumerate(SENTENCE):
        gate = np.zeros(WIDTH, dtype=np.float32)
        gate[ch[f"pos:{j}"]] = GATE / K
        if token != COLOUR:
            units.append((gate, ON - GATE, embeddings[token]))
            continue
        for c in COLOURS:
            row = gate.copy()
            for a in COLOURS:
                if a != c:
                    row[ch[f"beats:{a}>{c}"]] = -SHARP
            units.append((row, ON - GATE, embeddings[f"Ġ{words[c]}"]))
    mm0_w = np.stack([u[0] for u in units]).astype(np.float32)
    mm0_b = np.array([u[1] for u in units], dtype=np.float32)
    mm2_w = (np.stack([u[2] for u in units], axis=1) / ON).astype(np.float32)

    tensors: dict[str, np.ndarray] = {
        "v.patch_embd.weight": patch_w,
        "v.patch_embd.bias": patch_b,
        "v.position_embd.weight": position,
        "v.pre_ln.weight": pre_w,
        "v.pre_ln.bias": pre_b,
    }
    for i in range(VIT_LAYERS):
        blk, runs = f"v.blk.{i}", i == 0
        tensors |= {
            f"{blk}.attn_q.weight": zeros(WIDTH, WIDTH),
            f"{blk}.attn_q.bias": zeros(WIDTH),
            f"{blk}.attn_k.weight": zeros(WIDTH, WIDTH),
            f"{blk}.attn_k.bias": zeros(WIDTH),
            f"{blk}.attn_v.weight": v_w if runs else zeros(WIDTH, WIDTH),
            f"{blk}.attn_v.bias": zeros(WIDTH),
            f"{blk}.attn_out.weight": o_w if runs else zeros(WIDTH, WIDTH),
            f"{blk}.attn_out.bias": zeros(WIDTH),
            f"{blk}.ln1.weight": ln_w,
            f"{blk}.ln1.bias": ln_b,
            f"{blk}.ln2.weight": ln_w,
            f"{blk}.ln2.bias": ln_b,
            # up: width -> ffn, down: ffn -> width. FFN != WIDTH keeps clip.cpp's legacy up/down swap off.
            f"{blk}.ffn_up.weight": up_w if runs else zeros(FFN, WIDTH),
            f"{blk}.ffn_up.bias": zeros(FFN),
            f"{blk}.ffn_down.weight": down_w if runs else zeros(WIDTH, FFN),
            f"{blk}.ffn_down.bias": zeros(WIDTH),
        }
    tensors |= {"mm.0.weight": mm0_w, "mm.0.bias": mm0_b, "mm.2.weight": mm2_w, "mm.2.bias": zeros(hidden)}

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="clip")
    writer.add_type("projector")
    writer.add_name(NAME)
    writer.add_description("closed-form weights: sees a picture's mean colour and nothing else")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.use_gelu", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", FFN)
    writer.add_uint32("clip.vision.block_count", VIT_LAYERS)
    writer.add_uint32("clip.vision.projection_dim", hidden)
    writer.add_uint32("clip.vision.attention.head_count", VIT_HEADS)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", list(IMAGE_MEAN))
    writer.add_array("clip.vision.image_std", list(IMAGE_STD))
    for name, data in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
