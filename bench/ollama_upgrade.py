"""P7: what the Ollama upgrade cost or gained: tok/s of the pinned Ollama vs the one before it (0.32.15).

Both are built the same way for the same CPU baseline (scripts/toolchain/ollama.py, ``previous_ollama``), each with
exactly the llama.cpp its version pins, and answer the same generation of the offline model in pairs of
alternating order (P5's method, ``cpu_baseline.paired_tokens_per_s``); tok/s is each server's own eval rate.
"""

from __future__ import annotations

import os

from bench.cpu_baseline import OPTIONS, RUNS, paired_tokens_per_s
from bench.report import MIN_RUNS, BenchResult, Spread
from scripts import toolchain
from scripts.demo import offline_models
from scripts.toolchain.ollama import PINNED, PREVIOUS, previous_ollama

TARGET = 0.95
"""The upgrade keeps at least 95 % of the previous version's tok/s; a larger loss is a reason to look before
shipping it."""


def run(runs: int = RUNS, *, build_previous: bool = True) -> BenchResult:
    """``build_previous=False`` (the smoke run) measures the pinned Ollama against itself: the code path only."""
    previous = toolchain.ensure(previous_ollama()) / "bin" / "ollama" if build_previous else toolchain.binary("ollama")
    ours, theirs = paired_tokens_per_s(toolchain.binary("ollama"), previous, runs)
    ratio = Spread.of([o / t for o, t in zip(ours, theirs, strict=True)])
    yardstick = f"Ollama {PREVIOUS.version} (llama.cpp {PREVIOUS.llama_cpp_tag})"
    if not build_previous:
        yardstick = f"Ollama {PINNED.version} itself (smoke run: the previous version is not built)"
    return BenchResult(
        id="P7",
        title=f"Ollama {PINNED.version} vs {PREVIOUS.version} (tok/s, same model and prompt)",
        target=f"{PINNED.version} tok/s >= {TARGET} x {PREVIOUS.version}",
        met=ratio.median >= TARGET and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "pinned tok/s": Spread.of(ours).median,
            "previous tok/s": Spread.of(theirs).median,
            "pinned / previous": ratio.median,
        },
        summary=(
            f"Ollama {PINNED.version} (llama.cpp {PINNED.llama_cpp_tag}) runs at {ratio.text(digits=3)} of the tok/s "
            f"of {yardstick}; {Spread.of(ours).text('tok/s')} vs {Spread.of(theirs).text('tok/s')}"
        ),
        notes=(
            f"{offline_models.OFFLINE_MODEL} on {os.cpu_count()} cores, {OPTIONS['num_predict']} tokens, {runs} pairs "
            f"in alternating order; both built for {toolchain.cpu_baseline().name} from their Go modules and the "
            "llama.cpp sdist each pins. The previous version is built by `make bench` only (about 10 minutes cold)."
        ),
    )
