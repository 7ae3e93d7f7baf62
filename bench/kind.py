"""P6: the real KIND cluster, each figure beside its raw baseline in the same run.

- ``kind up`` cold (no cluster: network, cluster, registry containers, mirror wiring) vs a raw
  ``kind create cluster --wait`` of the same node image and config; ``kind up`` warm (the cluster exists);
- ``promote --to kind`` cold (a fresh namespace) and no-op vs a raw ``helm upgrade --install --wait`` of the same
  chart with the values that promotion installed;
- the TTFT of a describe on the page the app pod serves (its in-cluster Ollama) vs the same request to the host's
  Ollama.

It needs the machine's KIND cluster name for itself: with a ``snap2prod`` cluster running it measures nothing and
says so (``snap2prod kind down`` first); it leaves no cluster behind. ``run_on`` measures the promotions and the
page alone on a cluster that runs: the smoke run in tests/integration/test_kind.py, on that module's cluster.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml

from app import describe as uc
from app.lock import Lock, pin, write_lock
from bench.live_ollama import live_ollama
from bench.page_latency import fixture_picture, page_vs_raw, raw_ttft_ms, sent_jpeg
from bench.report import MIN_RUNS, BenchResult, Spread, alternating_pairs, paired_ratio
from scripts import promote, signing, toolchain
from scripts.demo.offline_models import ensure_vision_model
from scripts.kind import cluster, node_files
from scripts.kind import registry as local
from scripts.paths import CHART

NAME = "snap2prod"
RUNS = 3
"""Cluster pairs: each creates a cluster or rolls out the whole stack, minutes per pair on 2 cores."""
TTFT_RUNS = MIN_RUNS
TARGET_UP_RATIO = 1.5
TARGET_WARM_S = 3.0
TARGET_PROMOTE_RATIO = 2.0
TARGET_NOOP_S = 10.0
TARGET_TTFT_OVERHEAD_MS = 300.0
TARGET_CHECKS_RATIO = 1.10
TARGET_NOOP_CHECKS_S = 1.0
APP_NODE_PORT = 30851  # stacks/local/values.yaml: app.service.nodePort


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _helm(kubeconfig: Path, *args: str) -> None:
    cmd = [str(toolchain.binary("helm")), "--kubeconfig", str(kubeconfig), "--kube-context", f"kind-{NAME}", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)


def _kind(*args: str) -> None:
    subprocess.run([*cluster.kind_cli(), *args], check=True, capture_output=True, env=cluster.kind_env(), timeout=900)


def page_url() -> str:
    """Where stacks/local/kind.yaml maps the app Service's NodePort on this machine."""
    for node in cluster.load_config()["nodes"]:
        for m in node.get("extraPortMappings", []):
            if m["containerPort"] == APP_NODE_PORT:
                return f"http://{m.get('listenAddress', '127.0.0.1')}:{m['hostPort']}"
    raise RuntimeError(f"stacks/local/kind.yaml maps no port to the app's NodePort {APP_NODE_PORT}")


def _up_pairs(runs: int, root: Path) -> dict[str, list[float]]:
    """``kind up`` cold then warm, vs raw ``kind create`` of the same image and config, from no cluster each time."""
    times: dict[str, list[float]] = {"cold": [], "warm": [], "raw": [], "raw_policies": []}
    config = cluster.derived_config(cluster.load_config())
    config["name"] = NAME
    config_file = root / "kind-raw.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    log = root / "kind-raw.log"
    image = cluster.node_image(None)  # built once, before the first pair (cached by version)

    def ours() -> float:
        seconds = _timed(lambda: cluster.up(NAME))
        times["warm"].append(_timed(lambda: cluster.up(NAME)))
        cluster.down(NAME)
        return seconds

    def raw() -> float:
        local.ensure_network(log)  # IPv4 only, as `kind up` makes it (left to kind it would get IPv6 too)
        kubeconfig = root / "raw-kubeconfig"
        create = ["create", "cluster", "--name", NAME, "--image", image, "--config", str(config_file)]
        seconds = _timed(lambda: _kind(*create, "--kubeconfig", str(kubeconfig), "--wait", "180s"))
        # the node image's NetworkPolicy agent, which `kind up` waits for on every node: the same wait by hand
        daemonset = f"daemonset/{node_files.NETWORK_POLICY_DAEMONSET}"
        wait = [str(toolchain.binary("kubectl")), "--kubeconfig", str(kubeconfig), "-n", "kube-system", "rollout"]
        wait += ["status", daemonset, "--timeout=180s"]
        times["raw_policies"].append(_timed(lambda: subprocess.run(wait, check=True, capture_output=True)))
        _kind("delete", "cluster", "--name", NAME, "--kubeconfig", str(kubeconfig))
        cluster.down(NAME)  # the network made above
        return seconds

    times["cold"], times["raw"] = alternating_pairs(ours, raw, runs)
    return times


def _promote_pairs(
    runs: int,
    up: cluster.UpResult,
    host: str,
    lock_path: Path,
    root: Path,
    on_first: Callable[[], object],
    serving: str | None = None,
) -> dict[str, list[float]]:
    """Promote cold (fresh namespace) + no-op, vs raw helm with the values that promotion installed; ``on_first``
    runs while the first promotion's release serves (the page TTFT is measured on it: no promotion of its own).
    ``serving`` names a namespace whose release (promoted with the same lock) stands in for the first promotion:
    it is measured on, its values taken, and it is uninstalled."""
    times: dict[str, list[float]] = {
        "first": [],
        "cold": [],
        "noop": [],
        "raw": [],
        "raw_test": [],
        "bare": [],
        "cold_provenance": [],
        "cold_policies": [],
        "noop_checks": [],
    }
    prefix = f"bench-{uuid.uuid4().hex[:4]}"

    def options(namespace: str, checks: bool = True) -> promote.Options:
        return promote.Options(to="kind", lock=lock_path, host=host, namespace=namespace, timeout_s=600, checks=checks)

    first = options(serving or f"{prefix}-first")
    if serving is None:  # pushes the images and mirrors the models into the fresh registry
        times["first"].append(_timed(lambda: promote.promote(first)))
    on_first()
    values_file = root / "installed-values.yaml"
    get_values = ["get", "values", "snap2prod", "-n", first.namespace, "-o", "yaml"]
    out = subprocess.run(
        [str(toolchain.binary("helm")), "--kubeconfig", str(up.kubeconfig), *get_values],
        check=True,
        capture_output=True,
        text=True,
    )
    values_file.write_text(out.stdout)
    _helm(up.kubeconfig, "uninstall", "snap2prod", "-n", first.namespace, "--wait")
    made = {"ours": 0, "bare": 0, "raw": 0}  # a fresh namespace for every run: a reused one keeps the models PVC

    def ours() -> float:
        opts = options(f"{prefix}-{made['ours']}")
        made["ours"] += 1
        signing.forget_verified()  # cold: cosign asks the registry for every image's signature
        start = time.perf_counter()
        cold = promote.promote(opts)
        seconds = time.perf_counter() - start
        times["cold_provenance"].append(cold.timings_s.get("provenance", 0.0))
        times["cold_policies"].append(cold.timings_s.get("policies", 0.0))
        start = time.perf_counter()
        noop = promote.promote(opts)
        times["noop"].append(time.perf_counter() - start)
        times["noop_checks"].append(_checks_s(noop))
        _helm(up.kubeconfig, "uninstall", "snap2prod", "-n", opts.namespace, "--wait")  # frees the NodePort
        return seconds

    def bare() -> float:
        """The same cold promotion without the checks: what they cost is the difference."""
        opts = options(f"{prefix}-bare-{made['bare']}", checks=False)
        made["bare"] += 1
        seconds = _timed(lambda: promote.promote(opts))
        _helm(up.kubeconfig, "uninstall", "snap2prod", "-n", opts.namespace, "--wait")
        return seconds

    def raw() -> float:
        namespace = f"{prefix}-raw-{made['raw']}"
        made["raw"] += 1
        install = ["upgrade", "--install", "snap2prod", str(CHART), "-n", namespace, "--create-namespace"]
        seconds = _timed(lambda: _helm(up.kubeconfig, *install, "-f", str(values_file), "--wait", "--timeout", "600s"))
        test = ["test", "snap2prod", "-n", namespace, "--timeout", "600s"]  # the same real inference promote runs
        times["raw_test"].append(_timed(lambda: _helm(up.kubeconfig, *test)))
        _helm(up.kubeconfig, "uninstall", "snap2prod", "-n", namespace, "--wait")
        return seconds

    sides = {"cold": ours, "bare": bare, "raw": raw}
    for i in range(runs):  # each side runs first, second and third in turn
        order = list(sides)[i % 3 :] + list(sides)[: i % 3]
        for name in order:
            times[name].append(sides[name]())
    return times


def _first(seconds: list[float]) -> str:
    return f"{seconds[0]:.0f} s" if seconds else "not measured: a release that served already stood in for it"


def _checks_s(report: promote.Report) -> float:
    """What a no-op promotion spent on its checks: the signatures (verified before for these digests) and the
    probe's verdict (kept for this revision), from the report's own step timings."""
    return float(report.timings_s.get("provenance", 0.0) + report.timings_s.get("policies", 0.0))


def _ttft_pairs(runs: int, host: str, model: str) -> tuple[list[float], list[float]]:
    """Describe on the in-cluster page (the release promoted last) vs the same request to the host's Ollama (ms)."""
    picture = fixture_picture()
    jpeg = sent_jpeg(picture, model)
    prompt = uc.PRESETS["Describe this picture"]
    raw_ttft_ms(host, model, jpeg, prompt)  # the host's Ollama loads the model once, as the pod's did
    return page_vs_raw(page_url(), picture, lambda: raw_ttft_ms(host, model, jpeg, prompt), runs)


TITLE = "KIND: kind up cold/warm, promote --to kind cold/no-op, TTFT through the in-cluster page"
TARGET = (
    f"kind up cold ≤ {TARGET_UP_RATIO:g} × raw `kind create --wait` + the NetworkPolicy agent's rollout (the same "
    f"readiness by hand), warm ≤ {TARGET_WARM_S:g} s; promote cold "
    f"≤ {TARGET_PROMOTE_RATIO:g} × raw helm, no-op ≤ {TARGET_NOOP_S:g} s; signatures + policy probe ≤ "
    f"{TARGET_CHECKS_RATIO:g} × cold without them, ≤ {TARGET_NOOP_CHECKS_S:g} s no-op; page TTFT ≤ host raw TTFT + "
    f"{TARGET_TTFT_OVERHEAD_MS:g} ms"
)


def run(runs: int = RUNS, ttft_runs: int = TTFT_RUNS) -> BenchResult:
    """Every figure, from no cluster: the cluster pairs, then promotion and the page on one more cluster."""
    if NAME in cluster.clusters():
        return BenchResult(
            id="P6",
            title=TITLE,
            target=TARGET,
            met=False,
            figures={"runs": 0},
            summary=f"not measured: a KIND cluster {NAME} is running; `snap2prod kind down`, then `make bench`",
            notes="P6 creates and deletes the cluster it measures; it never touches one that runs.",
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            up_times = _up_pairs(runs, Path(tmp))
            promotion = _promotion(runs, ttft_runs, cluster.up(NAME))
        finally:
            cluster.down(NAME)
    return _result(runs, ttft_runs, up_times, promotion)


def run_on(
    up: cluster.UpResult, runs: int = 1, ttft_runs: int = 1, serving: tuple[str, Path] | None = None
) -> BenchResult:
    """The promotion and page figures alone, on a cluster that runs: the smoke run inside `make test`, on the
    KIND tests' own cluster (the cluster pairs are `make bench`'s). ``serving`` is a namespace whose release holds
    the app's NodePort and the lock it was promoted with: it stands in for the first promotion (which the KIND
    tests prove already) and is uninstalled; without it no release may hold the NodePort."""
    return _result(runs, ttft_runs, None, _promotion(runs, ttft_runs, up, serving))


Promotion = tuple[dict[str, list[float]], list[float], list[float], str]
"""Promotion times, page and host TTFTs (ms), and the model measured."""


def _promotion(runs: int, ttft_runs: int, up: cluster.UpResult, serving: tuple[str, Path] | None = None) -> Promotion:
    with live_ollama() as (gateway, _), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = ensure_vision_model(gateway)
        if serving is not None:
            lock_path = serving[1]
        else:
            lock = Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [model])))
            lock_path = write_lock(lock, root / "models.lock")
        ttft: list[tuple[list[float], list[float]]] = []

        def measure_page() -> None:
            ttft.append(_ttft_pairs(ttft_runs, gateway.host, model))

        times = _promote_pairs(
            runs, up, gateway.host, lock_path, root, measure_page, serving[0] if serving is not None else None
        )
    return times, ttft[0][0], ttft[0][1], model


def _result(runs: int, ttft_runs: int, up_times: dict[str, list[float]] | None, promotion: Promotion) -> BenchResult:
    promote_times, page_ms, raw_ms, model = promotion
    p_cold, noop, raw_helm = (Spread.of(promote_times[k]) for k in ("cold", "noop", "raw"))
    promote_ratio = paired_ratio(promote_times["cold"], promote_times["raw"])
    by_hand = [r + t for r, t in zip(promote_times["raw"], promote_times["raw_test"], strict=True)]
    same_work, raw_test = paired_ratio(promote_times["cold"], by_hand), Spread.of(promote_times["raw_test"])
    checks_ratio = paired_ratio(promote_times["cold"], promote_times["bare"])
    bare = Spread.of(promote_times["bare"])
    noop_checks = Spread.of(promote_times["noop_checks"])
    page, raw_ttft = Spread.of(page_ms), Spread.of(raw_ms)
    overhead = Spread.of([p - r for p, r in zip(page_ms, raw_ms, strict=True)])
    figures: dict[str, float | int | str] = {"runs": runs}
    if up_times is None:
        up_met, up_summary = False, "kind up not measured (a running cluster was given; `make bench` measures it)"
    else:
        cold, warm, raw_up = (Spread.of(up_times[k]) for k in ("cold", "warm", "raw"))
        up_ratio = paired_ratio(up_times["cold"], up_times["raw"])
        up_by_hand = [r + w for r, w in zip(up_times["raw"], up_times["raw_policies"], strict=True)]
        up_same_work, raw_policies = paired_ratio(up_times["cold"], up_by_hand), Spread.of(up_times["raw_policies"])
        up_met = up_same_work.median <= TARGET_UP_RATIO and warm.median <= TARGET_WARM_S
        figures |= {
            "kind up cold s": cold.median,
            "raw kind create s": raw_up.median,
            "up cold / raw": up_ratio.median,
            "raw NetworkPolicy agent wait s": raw_policies.median,
            "up cold / (raw + agent wait)": up_same_work.median,
            "kind up warm s": warm.median,
        }
        up_summary = (
            f"kind up cold {up_ratio.text()} × raw kind create ({cold.text('s')} vs {raw_up.text('s')}), "
            f"{up_same_work.text()} × the same work by hand (+ the NetworkPolicy agent's rollout "
            f"{raw_policies.text('s')}), warm {warm.text('s')}"
        )
    met = (
        up_met
        and promote_ratio.median <= TARGET_PROMOTE_RATIO
        and noop.median <= TARGET_NOOP_S
        and overhead.median <= TARGET_TTFT_OVERHEAD_MS
        and checks_ratio.median <= TARGET_CHECKS_RATIO
        and noop_checks.median <= TARGET_NOOP_CHECKS_S
        and ttft_runs >= MIN_RUNS
    )
    if promote_times["first"]:
        figures["first promote s"] = promote_times["first"][0]
    figures |= {
        "promote cold s": p_cold.median,
        "raw helm --wait s": raw_helm.median,
        "promote cold / raw": promote_ratio.median,
        "raw helm test s": raw_test.median,
        "promote cold / (raw + helm test)": same_work.median,
        "promote no-op s": noop.median,
        "promote cold without checks s": bare.median,
        "cold / cold without checks": checks_ratio.median,
        "cold signatures s": Spread.of(promote_times["cold_provenance"]).median,
        "cold policy probe s (beside the helm test)": Spread.of(promote_times["cold_policies"]).median,
        "no-op checks s": noop_checks.median,
        "ttft runs": ttft_runs,
        "page TTFT ms": page.median,
        "host raw TTFT ms": raw_ttft.median,
        "TTFT overhead ms": overhead.median,
    }
    return BenchResult(
        id="P6",
        title=TITLE,
        target=TARGET,
        met=met,
        figures=figures,
        summary=(
            f"{up_summary}; promote cold {promote_ratio.text()} × raw helm ({p_cold.text('s')} vs "
            f"{raw_helm.text('s')}), {same_work.text()} × the same work by hand (raw helm + helm test "
            f"{raw_test.text('s')}), no-op {noop.text('s')}; signatures + policy probe cost {checks_ratio.text()} × "
            f"cold without them ({bare.text('s')}), {noop_checks.text('s')} no-op; page TTFT "
            f"+{overhead.text('ms')} over the host's "
            f"raw TTFT ({page.text('ms')} vs {raw_ttft.text('ms')})"
        ),
        notes=(
            f"{runs} cluster pairs and {ttft_runs} TTFT pairs, each in alternating order, {model} on CPU. The targets "
            "are ours (the KIND issue asks for the ratios, not for limits). kind up cold includes the network, the "
            "registry containers, the mirror wiring and the wait for the NetworkPolicy agent (kube-router) on every "
            "node; the raw `kind create` starts the same agent (it is in the node image) but does not wait for it, "
            "so the target's baseline adds that wait, timed by hand (`kubectl rollout status`). The node image is "
            "built before the first pair. The first "
            "promotion after `kind up` also pushes the images and mirrors the models into the fresh registry "
            f"({_first(promote_times['first'])}, reported alone); each measured promotion then goes to a fresh "
            "namespace and includes parity, preflight, the rollout with --wait, verify through a port-forward and "
            "the helm test's real inference; the checks (each image's cosign signature, asked of the registry "
            "every cold run, and the NetworkPolicy probe pods, which run beside the helm test) are measured as a "
            "third side of each run: the same cold promotion with the checks off (`Options.checks`, the "
            "benchmark's alone), the three sides in rotating order; a no-op reuses the signatures verified for the "
            "same digests and the probe's verdict for the same revision; the raw baseline installs the same chart "
            "with the values that promotion installed, and the same work by hand adds the `helm test` (the same real "
            "inference). "
            "The page TTFT (on the first promotion's release) is a click on the page the app pod serves (NodePort) to "
            "the first "
            "token from the in-cluster Ollama (CPU request 500m on a 2-core node), the raw one the same prepared "
            "picture and prompt sent to the host's Ollama."
        ),
    )
