"""Run every benchmark, write bench/report.md and the README's table from it; exits 1 when a target is missed.

``python -m bench P3 P6`` (``make bench ONLY="P3 P6"``) re-measures only those and keeps the other figures of
the last full run on this machine (bench/report.json); each result says when it was measured.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from dataclasses import replace

from bench.report import BenchResult, read_results, update_readme, write

MODULES = {
    "P1": "bench.frame_pipeline",
    "P2": "bench.gateway_stream",
    "P3": "bench.page_latency",
    "P4": "bench.promote",
    "P5": "bench.cpu_baseline",
    "P6": "bench.kind",
    "P7": "bench.ollama_upgrade",
    "P8": "bench.api_gate",
}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def main(only: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run cleanups: benches start servers
    unknown = [pid for pid in only if pid not in MODULES]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(MODULES))}", file=sys.stderr)
        return 2
    try:
        kept = {r.id: r for r in read_results()} if only else {}
    except FileNotFoundError:
        print("no bench/report.md (nor report.json): run `make bench` once first", file=sys.stderr)
        return 2
    results: list[BenchResult] = []
    load_before = _load()
    for pid, name in MODULES.items():
        if only and pid not in only:
            results.extend([kept[pid]] if pid in kept else [])
            continue
        print(f"== {name}", flush=True)
        result: BenchResult = importlib.import_module(name).run()
        result = replace(result, measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        print(f"   {result.id}: {result.summary} -> {'met' if result.met else 'MISSED'}", flush=True)
        results.append(result)
    note = (
        f"Machine load average at the start {load_before}, at the end {_load()}: a load above the core count "
        "means other work shared the CPU while this ran, which widens the spreads and tilts small ratios."
    )
    path = write(results, note=note)
    update_readme(path)
    print(f"report: {path} (README table updated)")
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
