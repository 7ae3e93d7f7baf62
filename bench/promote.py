"""P4: `snap2prod promote --to sim` cold, re-run (no-op) and --dry-run, vs a raw `helm upgrade --install --wait`."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from app.lock import Lock, pin, read_lock, write_lock
from bench.live_ollama import live_ollama
from bench.report import BenchResult
from scripts import promote, toolchain
from scripts.paths import CHART
from scripts.sim import Sim, SimSpec

RUNS = 3


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run() -> BenchResult:
    cold, noop, dry, raw = [], [], [], []
    with live_ollama() as (gateway, model), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lock_path = write_lock(
            Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [model]))), root / "models.lock"
        )
        sim = Sim(root / "sim")
        cluster = sim.up(SimSpec(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1))
        try:
            values_file = root / "values.yaml"
            values_file.write_text(yaml.safe_dump(promote.merged_values("sim", [], read_lock(lock_path), lock_path)))
            for i in range(RUNS):
                opts = promote.Options(to="sim", kubeconfig=cluster.kubeconfig, lock=lock_path, host=gateway.host,
                                       namespace=f"bench-{i}", release="snap2prod", timeout_s=120)  # fmt: skip
                cold.append(_timed(lambda o=opts: promote.promote(o)))
                noop.append(_timed(lambda o=opts: promote.promote(o)))
                dry_opts = promote.Options(**{**opts.__dict__, "dry_run": True})
                dry.append(_timed(lambda o=dry_opts: promote.promote(o)))
                helm = [str(toolchain.binary("helm")), "--kubeconfig", str(cluster.kubeconfig), "upgrade", "--install",
                        "snap2prod", str(CHART), "-n", f"raw-{i}", "--create-namespace", "-f", str(values_file),
                        "--wait", "--timeout", "120s"]  # fmt: skip
                raw.append(_timed(lambda cmd=helm: subprocess.run(cmd, check=True, capture_output=True)))
        finally:
            sim.down()
    c, n, d, r = (statistics.median(x) for x in (cold, noop, dry, raw))
    return BenchResult(
        id="P4",
        title="promote --to sim: cold to Ready, no-op re-run, --dry-run (rehearsal cluster)",
        target="cold ≤ 60 s, no-op ≤ 15 s, dry-run ≤ 5 s",
        met=c <= 60 and n <= 15 and d <= 5,
        figures={"runs": RUNS, "cold s": c, "no-op s": n, "dry-run s": d, "raw helm --wait s": r, "cold / raw": c / r},
        notes=(
            "A fresh namespace per run on a 2×8-GPU simulated cluster; the promotion includes preflight, parity "
            "against the real local Ollama, the rollout with --wait, placement and the helm test; the raw baseline "
            "is one `helm upgrade --install --wait` of the same chart and values."
        ),
    )
