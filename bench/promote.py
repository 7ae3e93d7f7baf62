"""P4: `snap2prod promote --to sim` cold, re-run (no-op) and --dry-run, vs a raw `helm upgrade --install --wait`."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import yaml

from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from bench.live_ollama import live_ollama
from bench.report import MIN_RUNS, BenchResult, Spread, paired_ratio
from scripts import promote, toolchain
from scripts.paths import CHART
from scripts.sim import Sim, SimSpec

RUNS = 11


class Cluster(Protocol):
    """A running rehearsal cluster (``scripts.sim.SimCluster``): all the benchmark needs is its kubeconfig."""

    @property
    def kubeconfig(self) -> Path: ...


TARGET_COLD_RATIO = 2.0
TARGET_NOOP_S = 1.0


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _measure(
    cluster: Cluster, gateway: OllamaGateway, lock_path: Path, values_file: Path, runs: int, prefix: str
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"cold": [], "noop": [], "dry": [], "raw": [], "raw_test": []}
    for i in range(runs):
        opts = promote.Options(
            to="sim",
            kubeconfig=cluster.kubeconfig,
            lock=lock_path,
            host=gateway.host,
            namespace=f"{prefix}-{i}",
            release="snap2prod",
            timeout_s=120,
        )
        helm = [
            str(toolchain.binary("helm")),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "upgrade",
            "--install",
            "snap2prod",
            str(CHART),
            "-n",
            f"{prefix}-raw-{i}",
            "--create-namespace",
            "-f",
            str(values_file),
            "--wait",
            "--timeout",
            "120s",
        ]

        def cold(o: promote.Options = opts) -> None:
            start = time.perf_counter()
            report = promote.promote(o)
            times["cold"].append(time.perf_counter() - start)
            for label, seconds in report.timings_s.items():  # "rollout: helm upgrade ..." -> "step rollout"
                times.setdefault(f"step {label.split(':')[0]}", []).append(seconds)
            times["noop"].append(_timed(lambda: promote.promote(o)))  # the same promotion again: nothing to do

        def raw(cmd: list[str] = helm, namespace: str = f"{prefix}-raw-{i}") -> None:
            times["raw"].append(_timed(lambda: subprocess.run(cmd, check=True, capture_output=True)))
            test = [*cmd[:3], "test", "snap2prod", "-n", namespace, "--timeout", "120s"]  # helm --kubeconfig K test
            times["raw_test"].append(_timed(lambda: subprocess.run(test, check=True, capture_output=True)))

        for step in (cold, raw) if i % 2 == 0 else (raw, cold):  # the order inside a pair alternates
            step()
        dry_opts = promote.Options(**{**opts.__dict__, "dry_run": True})
        times["dry"].append(_timed(lambda o=dry_opts: promote.promote(o)))
        for namespace in (opts.namespace, f"{prefix}-raw-{i}"):  # free the GPUs and CPU for the next pair
            subprocess.run(
                [
                    str(toolchain.binary("helm")),
                    "--kubeconfig",
                    str(cluster.kubeconfig),
                    "uninstall",
                    "snap2prod",
                    "-n",
                    namespace,
                    "--wait",
                    "--timeout",
                    "120s",
                ],
                check=True,
                capture_output=True,
            )
    return times


def run(runs: int = RUNS, cluster: Cluster | None = None, prefix: str = "bench") -> BenchResult:
    """With ``cluster`` (a running sim cluster) the benchmark uses it, in namespaces ``{prefix}-N`` and
    ``{prefix}-raw-N``; else it starts and stops a cluster of its own."""
    with live_ollama() as (gateway, model), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lock_path = write_lock(
            Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [model]))), root / "models.lock"
        )
        values_file = root / "values.yaml"
        values_file.write_text(yaml.safe_dump(promote.merged_values("sim", [], read_lock(lock_path), lock_path)))
        if cluster is not None:
            times = _measure(cluster, gateway, lock_path, values_file, runs, prefix)
        else:
            sim = Sim(root / "sim")
            try:
                times = _measure(
                    sim.up(SimSpec(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1)),
                    gateway,
                    lock_path,
                    values_file,
                    runs,
                    prefix,
                )
            finally:
                sim.down()
    cold, noop, dry, raw = (Spread.of(times[k]) for k in ("cold", "noop", "dry", "raw"))
    ratio = paired_ratio(times["cold"], times["raw"])
    by_hand = [r + t for r, t in zip(times["raw"], times["raw_test"], strict=True)]
    same_work = paired_ratio(times["cold"], by_hand)
    raw_test = Spread.of(times["raw_test"])
    steps = {k: v for k, v in times.items() if k.startswith("step ") and k != "step total"}
    return BenchResult(
        id="P4",
        title="promote --to sim: cold to Ready, no-op re-run, --dry-run (rehearsal cluster)",
        target=f"cold ≤ {TARGET_COLD_RATIO:g} × raw `helm upgrade --install --wait`, no-op ≤ {TARGET_NOOP_S:g} s",
        met=ratio.median <= TARGET_COLD_RATIO and noop.median <= TARGET_NOOP_S and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "cold s": cold.median,
            "cold IQR s": cold.iqr,
            "raw helm --wait s": raw.median,
            "raw IQR s": raw.iqr,
            "cold / raw": ratio.median,
            "cold / raw IQR": ratio.iqr,
            "raw helm test s": raw_test.median,
            "cold / (raw + helm test)": same_work.median,
            "no-op s": noop.median,
            "no-op IQR s": noop.iqr,
            "dry-run s": dry.median,
        },
        summary=(
            f"cold {ratio.text()} × raw helm ({cold.text('s')} vs {raw.text('s')}), {same_work.text()} × the same "
            f"work by hand (raw helm + helm test {raw_test.text('s')}); no-op {noop.text('s')}; "
            f"dry-run {dry.text('s')}"
        ),
        notes=(
            f"{runs} pairs (promote cold, raw helm) in alternating order, a fresh namespace each; the no-op is the "
            "same promotion run again right after its cold run. The promotion includes preflight, parity against "
            "the real local Ollama, the rollout with --wait, placement and the helm test; the raw baseline is one "
            "`helm upgrade --install --wait` of the same chart and values (the target's baseline); the same work by "
            "hand adds the `helm test` promotion also runs (one bare Pod, which kwok completes at once). "
            "Where a cold promotion's time goes (medians): "
            + ", ".join(f"{k.removeprefix('step ')} {Spread.of(v).median:.2f} s" for k, v in steps.items())
            + "."
        ),
    )
