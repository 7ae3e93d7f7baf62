"""P8: a describe through Ollama's API gate (the chart's nginx, stacks/chart/files/api-gate.conf) vs straight to
the same Ollama.

The same app gateway, the same request (a picture and the page's prompt, as the page sends it), the same server;
only the address differs: the gate's loopback port, or Ollama's own. TTFT is the time until the first non-empty
piece of text is in the caller's hands; total until the stream is exhausted. Timed here, in alternating pairs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from app.describe import PRESETS
from app.gateway import ChatMessage, OllamaGateway
from app.imaging import prepare
from bench.live_ollama import live_ollama
from bench.report import MIN_RUNS, BenchResult, Spread, alternating_pairs, paired_ratio
from scripts import api_gate
from scripts.demo.offline_models import ensure_vision_model

RUNS = 61
OPTIONS = {"seed": 11, "temperature": 0, "num_predict": 24}
TARGET_TTFT = 1.02
KEEP_ALIVE = "10m"


def _pictures() -> Iterator[bytes]:
    """A new 640×480 JPEG scene for every describe (a seeded noise pattern over a colour), prepared as the page
    prepares an upload: the same picture twice would hit Ollama's prompt cache and time only the cache."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(11)
    while True:
        base = rng.integers(0, 256, size=3)
        img = np.clip(rng.normal(base, 40, size=(480, 640, 3)), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        yield prepare(buf.tobytes(), 336).jpeg


def _describe(gateway: OllamaGateway, model: str, picture: bytes) -> tuple[float, float]:
    message = ChatMessage("user", PRESETS["Describe this picture"], (picture,))
    start = time.perf_counter()
    ttft = 0.0
    for piece in gateway.chat_stream(model, [message], options=OPTIONS, keep_alive=KEEP_ALIVE):
        if not ttft and piece:
            ttft = time.perf_counter() - start
    return ttft, time.perf_counter() - start


def run(runs: int = RUNS) -> BenchResult:
    pictures = _pictures()
    with live_ollama() as (plain, _), tempfile.TemporaryDirectory(prefix="snap2prod-gate-") as tmp:
        model = ensure_vision_model(plain)
        process, url = api_gate.start(plain.host, Path(tmp))
        gated = OllamaGateway(url)
        try:
            _describe(plain, model, next(pictures))  # load the model, warm both paths
            _describe(gated, model, next(pictures))
            through, straight = alternating_pairs(
                lambda: _describe(gated, model, next(pictures)), lambda: _describe(plain, model, next(pictures)), runs
            )
        finally:
            gated.close()
            process.stop()
    ttft = paired_ratio([t[0] for t in through], [s[0] for s in straight])
    total = paired_ratio([t[1] for t in through], [s[1] for s in straight])
    raw_ttft = Spread.of([s[0] for s in straight]).scaled(1000)
    gate_ttft = Spread.of([t[0] for t in through]).scaled(1000)
    return BenchResult(
        id="P8",
        title="a describe through Ollama's API gate (nginx) vs straight to Ollama",
        target=f"TTFT ≤ {TARGET_TTFT:g} × straight",
        met=ttft.median <= TARGET_TTFT and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "straight TTFT ms": raw_ttft.median,
            "gate TTFT ms": gate_ttft.median,
            "TTFT ratio": ttft.median,
            "TTFT ratio IQR": ttft.iqr,
            "total ratio": total.median,
            "total ratio IQR": total.iqr,
        },
        summary=f"TTFT {ttft.text()} ×, total {total.text()} × (straight TTFT {raw_ttft.text('ms')})",
        notes=(
            f"the synthetic vision model on CPU, a new 336 px picture for every describe (a repeated one would time "
            f"Ollama's prompt cache) and the page's default prompt, "
            f"{OPTIONS['num_predict']} tokens, {runs} pairs in alternating order; the gate is the chart's own "
            "configuration with Debian's nginx on loopback (scripts/api_gate.py), as the gate container runs it "
            "beside Ollama in the pod. A ratio is the median of the per-pair ratios gate/straight, with its IQR."
        ),
    )


if __name__ == "__main__":
    print(run())
