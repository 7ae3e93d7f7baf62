"""Run every benchmark module and write the report; exits 1 when a target is missed."""

from __future__ import annotations

import importlib
import signal
import sys

from bench.report import BenchResult, write

MODULES = ("bench.frame_pipeline", "bench.gateway_stream", "bench.page_latency", "bench.promote")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run cleanups: benches start servers
    results: list[BenchResult] = []
    for name in MODULES:
        print(f"== {name}", flush=True)
        result: BenchResult = importlib.import_module(name).run()
        print(f"   {result.id}: {result.figures} -> {'met' if result.met else 'MISSED'}", flush=True)
        results.append(result)
    path = write(results)
    print(f"report: {path}")
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
