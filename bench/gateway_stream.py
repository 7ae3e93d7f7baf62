"""P2: streaming through the gateway, with the production Telemetry observer attached, vs a raw httpx POST /api/chat.

Both sides are timed here, outside the code under test, with the same clock and the same definition: TTFT is
the time until the first non-empty piece of text is in the caller's hands, total the time until the stream
is exhausted (for the gateway that includes what its observer does at the end: metrics and the log record).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TextIO

import httpx
from prometheus_client import CollectorRegistry

from app import logs
from app.gateway import ChatMessage, OllamaGateway
from app.metrics import Telemetry
from bench.live_ollama import live_ollama
from bench.report import MIN_RUNS, BenchResult, Spread, alternating_pairs, paired_ratio

RUNS = 101  # the server's TTFT varies by ±20 % run to run; a 2 % target needs many pairs
PROMPT = "Describe a red bicycle leaning on a wall in two sentences."
OPTIONS = {"seed": 11, "temperature": 0, "num_predict": 48}
TARGET_TTFT, TARGET_TOTAL = 1.02, 1.01
KEEP_ALIVE = "10m"  # what the page sends


Timing = tuple[float, float, float]  # TTFT, total, the caller thread's own CPU time until the first token


def _raw(client: httpx.Client, model: str) -> Timing:
    """The baseline: httpx and json only, and the request the gateway sends (keep_alive included)."""
    messages = [{"role": "user", "content": PROMPT}]
    body = {"model": model, "messages": messages, "stream": True, "options": OPTIONS, "keep_alive": KEEP_ALIVE}
    cpu, start = time.thread_time(), time.perf_counter()
    ttft = cpu_ttft = 0.0
    with client.stream("POST", "/api/chat", json=body) as resp:
        for line in resp.iter_lines():
            if not line:
                continue
            chunk = json.loads(line)
            if not ttft and chunk.get("message", {}).get("content"):
                ttft, cpu_ttft = time.perf_counter() - start, time.thread_time() - cpu
    return ttft, time.perf_counter() - start, cpu_ttft


def _gateway(gateway: OllamaGateway, model: str) -> Timing:
    cpu, start = time.thread_time(), time.perf_counter()
    ttft = cpu_ttft = 0.0
    for piece in gateway.chat_stream(model, [ChatMessage("user", PROMPT)], options=OPTIONS, keep_alive=KEEP_ALIVE):
        if not ttft and piece:
            ttft, cpu_ttft = time.perf_counter() - start, time.thread_time() - cpu
    return ttft, time.perf_counter() - start, cpu_ttft


def _request_log(stream: TextIO) -> logging.Logger:
    """The production request log (text format, one record per request), written to ``stream``."""
    logger = logging.getLogger("bench.requests")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def run(runs: int = RUNS) -> BenchResult:
    with Path(os.devnull).open("w") as devnull, live_ollama() as (plain, model):
        telemetry = Telemetry(plain.list_models, registry=CollectorRegistry(), logger=_request_log(devnull))
        gateway = OllamaGateway(plain.host, observer=telemetry)
        with httpx.Client(base_url=gateway.host, timeout=120) as client:
            _gateway(gateway, model)  # load the model, warm both clients
            _raw(client, model)
            gw, raw = alternating_pairs(lambda: _gateway(gateway, model), lambda: _raw(client, model), runs)
        gateway.close()
        labels = {"model": model, "outcome": "ok"}
        requests = telemetry.registry.get_sample_value("snap2prod_chat_requests_total", labels) or 0.0
    ttft = paired_ratio([g[0] for g in gw], [r[0] for r in raw])
    total = paired_ratio([g[1] for g in gw], [r[1] for r in raw])
    raw_ttft, gw_ttft = Spread.of([r[0] for r in raw]).scaled(1000), Spread.of([g[0] for g in gw]).scaled(1000)
    raw_total, gw_total = Spread.of([r[1] for r in raw]).scaled(1000), Spread.of([g[1] for g in gw]).scaled(1000)
    raw_cpu, gw_cpu = Spread.of([r[2] for r in raw]).scaled(1000), Spread.of([g[2] for g in gw]).scaled(1000)
    return BenchResult(
        id="P2",
        title="gateway streaming (+ Telemetry observer) vs raw httpx /api/chat",
        target=f"TTFT ≤ {TARGET_TTFT:g} × raw, total ≤ {TARGET_TOTAL:g} × raw",
        met=ttft.median <= TARGET_TTFT and total.median <= TARGET_TOTAL and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "raw TTFT ms": raw_ttft.median,
            "gateway TTFT ms": gw_ttft.median,
            "TTFT ratio": ttft.median,
            "TTFT ratio IQR": ttft.iqr,
            "raw total ms": raw_total.median,
            "gateway total ms": gw_total.median,
            "total ratio": total.median,
            "total ratio IQR": total.iqr,
            "raw client CPU to first token ms": raw_cpu.median,
            "gateway client CPU to first token ms": gw_cpu.median,
            "observed requests": int(requests),
        },
        summary=(
            f"TTFT {ttft.text()} ×, total {total.text()} × (raw TTFT {raw_ttft.text('ms')}); client CPU to first "
            f"token {gw_cpu.median:.2f} ms vs raw {raw_cpu.median:.2f} ms"
        ),
        notes=(
            f"model {model} on CPU, {OPTIONS['num_predict']} tokens, {runs} pairs in alternating order; a ratio is "
            "the median of the per-pair ratios gateway/raw, with its IQR. Both sides are timed by this benchmark "
            "(the gateway's own clock is not used); the gateway carries the Telemetry observer the page attaches, "
            "which recorded every measured request. The client CPU figures are the calling thread's own CPU time "
            "until the first token (time.thread_time): what the gateway adds by its own work, free of the server's "
            "run-to-run spread that dominates the TTFT ratio's IQR."
        ),
    )


if __name__ == "__main__":
    print(run())
