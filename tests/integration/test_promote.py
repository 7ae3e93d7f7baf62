"""`snap2prod promote` against the rehearsal cluster: a real API server, scheduler, controllers and Helm.

Each test promotes into a namespace of its own on the shared `sim_cluster` and deletes it afterwards. The lock is
pinned from the real local Ollama of the test run (`text_model`), so the parity step compares real digests. kwok
runs no containers, so the in-cluster model check is skipped on the sim (the report says why); the verify code
itself runs against the real local Ollama in `test_the_verify_step_checks_a_real_ollama_against_the_lock`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from scripts import cli, toolchain
from scripts.models.library import registry_ref
from scripts.promote import verify
from scripts.sim import SimCluster
from tests import models_fixtures
from tests.conftest import SIM_GROUP
from tests.fixtures.chart.helm import FIXTURE_LOCK, helm, one, template
from tests.kube import delete_namespace, exists

pytestmark = pytest.mark.xdist_group(SIM_GROUP)  # kwok clusters are made on one worker

TIMEOUT = "60"


@contextlib.contextmanager
def own_namespace(api: Any) -> Iterator[str]:
    """A fresh namespace name (promotion creates it). Afterwards it is deleted and its pods awaited, so the GPUs
    are free again for the next test (the namespace itself may take a few seconds more to go)."""
    name = f"promote-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        delete_namespace(client.CoreV1Api(api), name)


@pytest.fixture
def namespace(sim_api: Any) -> Iterator[str]:
    with own_namespace(sim_api) as name:
        yield name


@pytest.fixture(scope="module")
def real_lock(gateway: OllamaGateway, text_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lock of the real local Ollama's text model, as `snap2prod models lock` writes it."""
    lock = Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [text_model])))
    return write_lock(lock, tmp_path_factory.mktemp("lock") / "models.lock")


def promote(
    cluster: SimCluster, namespace: str, tmp_path: Path, *args: str, **values: Any
) -> tuple[int, dict[str, Any]]:
    """Run `snap2prod promote --to sim` in-process; returns the exit code and the JSON report."""
    report = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
    argv = [
        "promote",
        "--to",
        "sim",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-n",
        namespace,
        "--timeout",
        TIMEOUT,
        "--report",
        str(report),
        *args,
    ]
    if values:
        extra = tmp_path / f"values-{uuid.uuid4().hex[:6]}.yaml"
        extra.write_text(json.dumps(values))
        argv += ["--values", str(extra)]
    code = cli.main(argv)
    return code, json.loads(report.read_text()) if report.exists() else {}


def helm_history(cluster: SimCluster, namespace: str) -> list[dict[str, Any]]:
    proc = helm(
        "history", "snap2prod", "-n", namespace, "-o", "json", kubeconfig=cluster.kubeconfig, context=cluster.context
    )
    return list(json.loads(proc.stdout)) if proc.returncode == 0 else []


@pytest.fixture(scope="module")
def promoted(
    sim_cluster: SimCluster, sim_api: Any, real_lock: Path, ollama_host: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One promotion of the real lock, for the tests that only look at it (or change nothing)."""
    with own_namespace(sim_api) as namespace:
        tmp = tmp_path_factory.mktemp("promoted")
        code, report = promote(sim_cluster, namespace, tmp, "--lock", str(real_lock), "--host", ollama_host)
        assert code == 0, report.get("error")
        yield namespace, report


def test_promote_to_sim_puts_the_gpu_pod_on_a_gpu_node_and_reports_it(
    promoted: tuple[str, dict[str, Any]], sim_api: Any, real_lock: Path
) -> None:
    namespace, report = promoted
    assert (report["outcome"], report["exit_code"], report["revision"], report["changed"]) == ("promoted", 0, 1, True)
    assert "serves the 1 locked model(s)" in report["verify"]["parity"]  # the real local Ollama was compared
    (gpu_pod,) = report["placement"]
    assert gpu_pod["node"].startswith("sim-gpu-") and gpu_pod["ready"]
    assert gpu_pod["gpus"] == "1 nvidia.com/gpu"
    pod = client.CoreV1Api(sim_api).read_namespaced_pod(gpu_pod["pod"], namespace)
    assert pod.spec.node_name == gpu_pod["node"]
    assert {c["name"]: c["status"] for c in report["checks"]}["GPU capacity"] == "ok"
    assert report["verify"]["models"].startswith("skipped: the rehearsal cluster runs no containers")
    assert report["verify"]["helm_test"].startswith("passed")
    assert {"parity", "preflight", "rollout", "verify", "total"} <= set(report["timings_s"])


def test_promoting_again_is_a_no_op(
    promoted: tuple[str, dict[str, Any]], sim_cluster: SimCluster, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    namespace, _ = promoted
    code, again = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--host", ollama_host)
    assert code == 0
    assert (again["outcome"], again["revision"], again["changed"]) == ("unchanged", 1, False)
    assert "rollout" not in again["timings_s"]  # fast: Helm was not asked to change anything
    assert [r["revision"] for r in helm_history(sim_cluster, namespace)] == [1]
    # the helm test passed for revision 1 (Helm records it in the release): it is not run a second time
    assert again["verify"]["helm_test"] == (
        "passed for revision 1 when it was rolled out; not re-run, nothing changed (--retest runs it again)"
    )
    code, retested = promote(
        sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--host", ollama_host, "--retest"
    )
    assert code == 0 and retested["outcome"] == "unchanged"
    assert retested["verify"]["helm_test"].startswith("passed (simulated")


def test_dry_run_shows_the_diff_and_changes_nothing(
    promoted: tuple[str, dict[str, Any]], sim_cluster: SimCluster, sim_api: Any, real_lock: Path, tmp_path: Path
) -> None:
    namespace, _ = promoted
    code, report = promote(
        sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--from-lock", "--dry-run", app={"replicas": 3}
    )
    assert code == 0, report.get("error")
    assert report["outcome"] == "dry-run"
    assert "-  replicas: 2\n+  replicas: 3" in report["diff"]
    assert [r["revision"] for r in helm_history(sim_cluster, namespace)] == [1]
    deployment = client.AppsV1Api(sim_api).read_namespaced_deployment("snap2prod-app", namespace)
    assert deployment.spec.replicas == 2


def test_dry_run_of_a_new_release_creates_nothing(
    sim_cluster: SimCluster, sim_api: Any, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--from-lock", "--dry-run")
    assert code == 0, report.get("error")
    assert "+++ new/Deployment/snap2prod-ollama" in report["diff"]
    assert not exists(client.CoreV1Api(sim_api).read_namespace, namespace)


def test_more_gpus_than_a_node_has_are_refused_at_preflight_and_no_releaseexists(
    sim_cluster: SimCluster, sim_api: Any, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--from-lock", gpu={"count": 3})
    assert (code, report["outcome"]) == (5, "PreflightFailed")
    assert "3 nvidia.com/gpu on one node each, but the matching nodes have" in report["error"]
    assert "nothing was changed" in report["error"]
    assert helm_history(sim_cluster, namespace) == []
    assert not exists(client.CoreV1Api(sim_api).read_namespace, namespace)


def test_a_model_larger_than_the_gpu_memory_is_refused_at_preflight(
    sim_cluster: SimCluster, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    text = real_lock.read_text()
    (size,) = [line.split()[-1] for line in text.splitlines() if line.strip().startswith("size:")]
    huge = tmp_path / "models.lock"
    huge.write_text(text.replace(f"size: {size}", f"size: {100 * 1024**3}"))  # 100 GiB; the sim's A100 has 80
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(huge), "--from-lock")
    assert (code, report["outcome"]) == (5, "PreflightFailed")
    assert "snap2prod/smollm2:135m (100.0 GiB) does not fit in 80.0 GiB (1 × 81920 MiB" in report["error"]
    assert helm_history(sim_cluster, namespace) == []


def test_a_locked_model_the_deployed_ollama_cannot_run_is_refused_at_preflight(
    sim_cluster: SimCluster, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    """The catalog says Ollama 0.34.0 cannot load llama3.2-vision: promote names it, says why and what instead."""
    real = read_lock(real_lock)
    renamed = real.model_copy(
        update={"models": (real.models[0].model_copy(update={"name": "llama3.2-vision", "tag": "11b"}),)}
    )
    lock = write_lock(renamed, tmp_path / "models.lock")
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(lock), "--from-lock")
    assert (code, report["outcome"]) == (5, "PreflightFailed")
    assert f"✗ models run: llama3.2-vision:11b does not run on Ollama {toolchain.OLLAMA_VERSION}:" in report["error"]
    assert "Use qwen2.5vl:7b instead." in report["error"]
    assert helm_history(sim_cluster, namespace) == []


@pytest.mark.parametrize("context", ["kind-snap2prod", "snap2prod-sim", "docker-desktop", "minikube"])
def test_prod_refuses_a_local_looking_context(context: str, real_lock: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    argv = [
        "promote",
        "--to",
        "prod",
        "--kube-context",
        context,
        "--yes",
        "--lock",
        str(real_lock),
        "--report",
        str(report),
    ]
    assert cli.main(argv) == 4
    assert "looks like a local cluster" in json.loads(report.read_text())["error"]


def test_prod_needs_an_explicit_context(real_lock: Path) -> None:
    assert cli.main(["promote", "--to", "prod", "--yes", "--lock", str(real_lock)]) == 4


def test_prod_without_yes_and_without_a_terminal_asks_for_yes(real_lock: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    argv = [
        "promote",
        "--to",
        "prod",
        "--kube-context",
        "gpu-cluster",
        "--lock",
        str(real_lock),
        "--report",
        str(report),
    ]
    assert cli.main(argv) == 4  # pytest's stdin is no terminal, so nobody could answer the question
    assert "needs confirmation: add --yes" in json.loads(report.read_text())["error"]


def _as_context(kubeconfig: Path, name: str, into: Path) -> Path:
    """``kubeconfig`` with its one context renamed ``name``: what a person sees as "the prod context"."""
    config = yaml.safe_load(kubeconfig.read_text())
    (context,) = config["contexts"]
    context["name"] = name
    config["current-context"] = name
    into.write_text(yaml.safe_dump(config))
    return into


def test_a_prod_context_that_now_reaches_another_cluster_is_refused_naming_both(
    sim_cluster: SimCluster,
    sim_api: Any,
    mig_cluster: tuple[Any, SimCluster],
    real_lock: Path,
    ollama_host: str,
    tmp_path: Path,
) -> None:
    """The first promotion through a prod context records the cluster's kube-system UID; when the same context
    name later reaches the other rehearsal cluster, promote refuses before anything changes, naming both UIDs."""
    first = client.CoreV1Api(sim_api).read_namespace("kube-system").metadata.uid
    sim_b, other_cluster = mig_cluster
    other_api = sim_b.api_client()
    try:
        second = client.CoreV1Api(other_api).read_namespace("kube-system").metadata.uid
        assert first != second
        kubeconfig = tmp_path / "kubeconfig"
        namespace = f"guard-{uuid.uuid4().hex[:8]}"

        def promote_prod() -> tuple[int, dict[str, Any]]:
            report = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
            argv = ["promote", "--to", "prod", "--kube-context", "gpu-east", "--kubeconfig", str(kubeconfig)]
            argv += ["--yes", "--lock", str(real_lock), "--host", ollama_host, "-n", namespace]
            code = cli.main([*argv, "--report", str(report)])
            return code, json.loads(report.read_text())

        _as_context(sim_cluster.kubeconfig, "gpu-east", kubeconfig)
        code, report = promote_prod()
        assert code == 5, report  # prod values' placeholder image digests stop it in preflight, after the record
        assert report["verify"]["cluster"].startswith(f"kube-system UID {first} ")
        assert "first use of context gpu-east" in report["verify"]["cluster"]

        _as_context(other_cluster.kubeconfig, "gpu-east", kubeconfig)
        code, report = promote_prod()
        assert code == 4, report
        assert f"kube-system UID {second} at https://" in report["error"]
        assert f"reached kube-system UID {first} at https://" in report["error"]
        assert "Nothing was changed" in report["error"]
        assert not exists(client.CoreV1Api(other_api).read_namespace, namespace)

        _as_context(sim_cluster.kubeconfig, "gpu-east", kubeconfig)  # back to the first: known again
        code, report = promote_prod()
        assert code == 5, report
        assert report["verify"]["cluster"].startswith(f"kube-system UID {first}: the cluster context gpu-east")
    finally:
        other_api.close()


def test_prod_refuses_an_existing_namespace_without_restricted_pod_security_unless_told(
    sim_cluster: SimCluster, sim_api: Any, namespace: str, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(sim_api)
    labels = {"pod-security.kubernetes.io/enforce": "baseline"}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=labels)))
    kubeconfig = _as_context(sim_cluster.kubeconfig, "gpu-west", tmp_path / "kubeconfig")

    def promote_prod(*extra: str) -> dict[str, Any]:
        report = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
        argv = ["promote", "--to", "prod", "--kube-context", "gpu-west", "--kubeconfig", str(kubeconfig), "--yes"]
        argv += ["--lock", str(real_lock), "--host", ollama_host, "-n", namespace, "--report", str(report), *extra]
        assert cli.main(argv) == 5  # the placeholder image digests fail preflight either way
        return dict(json.loads(report.read_text()))

    refused = promote_prod()
    assert (
        f"✗ namespace: {namespace} exists and enforces Pod Security baseline: production needs restricted"
        in (refused["error"])
    )
    accepted = {c["name"]: c for c in promote_prod("--allow-unrestricted-namespace")["checks"]}
    assert accepted["namespace"]["status"] == "warn"
    assert "accepted by --allow-unrestricted-namespace" in accepted["namespace"]["detail"]


def test_a_lock_the_local_ollama_does_not_match_is_refused_with_a_diff(
    sim_cluster: SimCluster, namespace: str, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    text = real_lock.read_text()
    (digest,) = [line.split()[-1] for line in text.splitlines() if line.strip().startswith("digest:")]
    other = tmp_path / "models.lock"
    other.write_text(text.replace(digest, "sha256:" + "1" * 64))
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(other), "--host", ollama_host)
    assert (code, report["outcome"]) == (3, "ParityFailed")
    assert f"! differs  snap2prod/smollm2:135m  locked 111111111111, server has {digest[7:19]}" in report["error"]
    assert helm_history(sim_cluster, namespace) == []


def test_a_rollout_that_never_becomes_ready_is_rolled_back_and_the_previous_revision_stays_ready(
    sim_cluster: SimCluster, sim_api: Any, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    code, first = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--from-lock")
    assert code == 0, first.get("error")
    # preflight counts GPUs, not CPUs: an app pod asking for more CPU than any node has passes it and then never
    # gets scheduled, so Helm's wait runs out
    code, report = promote(
        sim_cluster,
        namespace,
        tmp_path,
        "--lock",
        str(real_lock),
        "--from-lock",
        "--timeout",
        "8",
        app={"resources": {"requests": {"cpu": "64"}}},
    )
    assert (code, report["outcome"]) == (6, "RolloutFailed")
    assert "rolled back to revision 1" in report["error"]
    assert (report["revision"], report["previous_revision"]) == (3, 1)  # the report says where it stands now
    assert "rollout" in report["timings_s"]
    history = helm_history(sim_cluster, namespace)
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    app = client.AppsV1Api(sim_api).read_namespaced_deployment("snap2prod-app", namespace)
    assert app.spec.template.spec.containers[0].resources.requests["cpu"] == "500m"
    deadline = time.monotonic() + 60
    while (app.status.ready_replicas or 0) != app.spec.replicas and time.monotonic() < deadline:
        time.sleep(0.25)
        app = client.AppsV1Api(sim_api).read_namespaced_deployment("snap2prod-app", namespace)
    assert app.status.ready_replicas == app.spec.replicas == 2


def test_a_failed_first_install_is_removed_and_leaves_no_release_and_no_workload(
    sim_cluster: SimCluster, sim_api: Any, namespace: str, real_lock: Path, tmp_path: Path
) -> None:
    """Nothing to roll back to: promote removes the release it started, so the next promotion starts clean."""
    code, report = promote(
        sim_cluster,
        namespace,
        tmp_path,
        "--lock",
        str(real_lock),
        "--from-lock",
        "--timeout",
        "8",
        app={"resources": {"requests": {"cpu": "64"}}},  # never scheduled (see the test above)
    )
    assert (code, report["outcome"]) == (6, "RolloutFailed")
    assert report["error"].endswith("it was a first install, so the release was removed."), report["error"]
    assert (report["revision"], report["previous_revision"]) == (None, None)
    assert helm_history(sim_cluster, namespace) == []
    apps = client.AppsV1Api(sim_api)
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == []

    code, again = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--from-lock")
    assert (code, again["outcome"], again["revision"]) == (0, "promoted", 1)


def test_the_verify_step_checks_a_real_ollama_against_the_lock(ollama_host: str, real_lock: Path) -> None:
    """The cluster's models are read by `scripts.promote.verify` through a port-forward. Simulated
    nodes run no containers, so this drives the same `verify_models` against the real local Ollama of the test run."""
    from app.lock import read_lock

    lock = read_lock(real_lock)
    with contextlib.closing(OllamaGateway(ollama_host, connect_timeout_s=30, first_token_timeout_s=30)) as gateway:
        assert verify.verify_models(gateway, lock).clean
        relocked = lock.model_copy(
            update={"models": (lock.models[0].model_copy(update={"digest": "sha256:" + "2" * 64}),)}
        )
        drift = verify.verify_models(gateway, relocked)
    assert not drift.clean
    assert drift.differs[0].found == lock.models[0].digest


def test_kind_without_a_container_engine_says_what_is_missing(
    real_lock: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    report = tmp_path / "report.json"
    assert cli.main(["promote", "--to", "kind", "--lock", str(real_lock), "--report", str(report)]) == 4
    assert "no container engine" in json.loads(report.read_text())["error"]


def test_values_merge_like_helm_f_lists_are_replaced_not_concatenated() -> None:
    from scripts.promote.values import merge

    base = {"gpu": {"enabled": True, "tolerations": [{"key": "a"}]}, "app": {"replicas": 2}}
    merged = merge(base, {"gpu": {"tolerations": [{"key": "b"}]}, "app": {"replicas": 3}})
    assert merged == {"gpu": {"enabled": True, "tolerations": [{"key": "b"}]}, "app": {"replicas": 3}}
    assert base["gpu"]["tolerations"] == [{"key": "a"}]  # the layers stay as they were


def test_preflight_for_prod_refuses_placeholder_digests_and_a_missing_ingress_class(
    sim_cluster: SimCluster, sim_api: Any, real_lock: Path
) -> None:
    """The prod values checked against the sim's API server: it has no ingress controller, and the committed image
    digests are the all-zero placeholders."""
    from app.lock import read_lock
    from scripts import promote
    from scripts.promote import preflight, rollout

    lock = read_lock(real_lock)
    values = promote.merged_values("prod", [], lock, real_lock)
    docs = rollout.render(rollout.Helm(sim_cluster.kubeconfig, sim_cluster.context), values, "snap2prod", "prod-x")
    with pytest.raises(preflight.PreflightFailed) as failed:
        preflight.run(
            sim_api,
            namespace="prod-x",
            release="snap2prod",
            docs=docs,
            values=promote.effective(values),
            lock=lock,
            production=True,
            ingress_strict=True,
        )
    message = str(failed.value)
    assert "✗ ingress class: IngressClass 'nginx' does not exist" in message
    assert (
        "✗ image digests: app.image.digest, ollama.image.digest, apiGate.image.digest still the all-zero placeholder"
        in message
    )
    assert "✗ model egress: no mirror is set (models.registry) and the NetworkPolicy lets Ollama reach only" in message
    assert {c.name: c.status for c in failed.value.checks}["GPU capacity"] == "ok"


def test_preflight_refused_by_rbac_names_the_request_and_what_to_ask_for(
    sim: Any, sim_cluster: SimCluster, real_lock: Path
) -> None:
    """The API server's own RBAC says no (a user with no role, by impersonation): one PreflightFailed that names
    the refused request, never the client's ApiException."""
    from app.lock import read_lock
    from scripts import promote
    from scripts.promote import preflight, rollout

    lock = read_lock(real_lock)
    values = promote.merged_values("sim", [], lock, real_lock)
    docs = rollout.render(rollout.Helm(sim_cluster.kubeconfig, sim_cluster.context), values, "snap2prod", "rbac-x")
    nobody = sim.api_client()
    nobody.set_default_header("Impersonate-User", "snap2prod-test-nobody")
    try:
        with pytest.raises(preflight.PreflightFailed) as failed:
            preflight.run(
                nobody,
                namespace="rbac-x",
                release="snap2prod",
                docs=docs,
                values=promote.effective(values),
                lock=lock,
                production=False,
                ingress_strict=False,
            )
    finally:
        nobody.close()
    message = str(failed.value)
    assert message.startswith(
        "preflight failed, nothing was changed in the cluster: the API server refused list nodes "
    )
    assert "(403 Forbidden)" in message and "ask the cluster's admins for get/list" in message
    assert 'User "snap2prod-test-nobody" cannot list resource "nodes"' in message
    assert failed.value.exit_code == 5


# --- what the report says to watch ---------------------------------------------------------------------------


def _flat(expr: str) -> str:
    return " ".join(expr.replace("(", " ( ").replace(")", " ) ").split())


def test_the_report_says_what_to_watch(sim_cluster: SimCluster, namespace: str, tmp_path: Path) -> None:
    """A dry run of a new release (cheap: nothing is installed) already reports where the metrics will be."""
    code, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(FIXTURE_LOCK), "--from-lock", "--dry-run")
    assert code == 0, report.get("error")
    watch = report["watch"]
    assert watch["metrics_url"] == f"/api/v1/namespaces/{namespace}/services/snap2prod-app:metrics/proxy/metrics"
    assert watch["scrape"] == "prometheus.io/* annotations on the app pods"
    assert watch["alerts"] == [
        "Snap2ProdOllamaUnreachable",
        "Snap2ProdHighErrorRate",
        "Snap2ProdSlowAnswers",
        "Snap2ProdModelOutsideLock",
    ]
    assert watch["alert_rules"].startswith("not installed")
    assert set(watch["queries"]) == {"error rate", "p95 latency", "ollama up", "models outside the lock"}


def test_the_watch_queries_are_the_alerts_expressions_and_name_the_installed_monitors() -> None:
    from scripts import promote as promote_module

    docs = template("prod", sets=["metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true"])
    watch = promote_module.watch(docs, "shop")
    assert watch["scrape"] == "ServiceMonitor snap2prod-app"
    assert watch["alert_rules"] == "PrometheusRule snap2prod-app"
    exprs = [_flat(r["expr"]) for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    for query in watch["queries"].values():  # each query is an alert's expression without its threshold
        assert any(e.startswith(_flat(query)) or _flat(query) in e for e in exprs), query
    off = promote_module.watch(template("prod", sets=["app.settings.metricsPort=0"]), "shop")
    assert off == {"metrics": "off (app.settings.metricsPort is 0)"}


def test_the_report_table_shows_the_watch_section() -> None:
    from scripts import promote as promote_module
    from scripts.console import console

    report = promote_module.Report("sim", "snap2prod-sim", "shop", "snap2prod", outcome="promoted")
    report.watch = promote_module.watch(template("prod"), "shop")
    with console.capture() as captured:
        promote_module.print_report(report)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", captured.get()).splitlines()  # plain even where colour is forced
    watch = lines[lines.index("watch") + 1 :]
    metrics = "/api/v1/namespaces/shop/services/snap2prod-app:metrics/proxy/metrics"
    assert watch[0] == f"  metrics: kubectl --context snap2prod-sim get --raw {metrics}"  # one line: copy and run
    assert "  ollama up: snap2prod_ollama_up" in watch
    assert any(line.startswith("  alerts: Snap2ProdOllamaUnreachable, ") for line in watch)


mirror_registry = models_fixtures.mirror_registry


def test_registry_mirrors_the_locked_models_first_and_the_cluster_pulls_from_there(
    sim_cluster: SimCluster,
    sim_api: Any,
    real_lock: Path,
    ollama_host: str,
    mirror_registry: models_fixtures.Mirror,
    tmp_path: Path,
) -> None:
    """A real push from the real local Ollama into a real distribution registry; the release then points the
    chart's provisioning at that registry, with the digests the registry serves (kwok runs no pull itself)."""
    lock_file = tmp_path / "models.lock"
    shutil.copy(real_lock, lock_file)
    registry = mirror_registry.redirecting.namespace()
    with own_namespace(sim_api) as namespace:
        code, report = promote(
            sim_cluster,
            namespace,
            tmp_path,
            "--lock",
            str(lock_file),
            "--host",
            ollama_host,
            "--registry",
            registry,
            "--insecure",
        )
        assert code == 0, report.get("error")
        assert registry in report["verify"]["mirror"]
        got = helm(
            "get",
            "values",
            "snap2prod",
            "-n",
            namespace,
            "-o",
            "json",
            kubeconfig=sim_cluster.kubeconfig,
            context=sim_cluster.context,
        )
        models = json.loads(got.stdout)["models"]
    assert models["registry"] == registry and models["insecure"] is True
    assert models["lock"]["mirror"]["registry"] == registry
    (locked,) = read_lock(lock_file).models
    repo, tag = registry_ref(registry, locked.ref).split("/", 1)[1].rsplit(":", 1)
    manifest = httpx.get(
        f"http://{mirror_registry.redirecting.address}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert manifest.status_code == 200
    served = "sha256:" + hashlib.sha256(manifest.content).hexdigest()
    assert served == (locked.mirror_digest or locked.digest)


def _manifest_by_object(cluster: SimCluster, namespace: str, revision: int) -> dict[str, str]:
    proc = helm(
        "get",
        "manifest",
        "snap2prod",
        "-n",
        namespace,
        "--revision",
        str(revision),
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": yaml.safe_dump(d, sort_keys=True) for d in docs}


def test_an_upgrade_that_adds_a_model_changes_only_the_lock_and_the_ollama_pod_not_the_app_pods(
    sim_cluster: SimCluster,
    sim_api: Any,
    gateway: OllamaGateway,
    text_model: str,
    vision_model: str,
    real_lock: Path,
    ollama_host: str,
    tmp_path: Path,
) -> None:
    two = Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [text_model, vision_model])))
    bigger_lock = write_lock(two, tmp_path / "two.lock")
    with own_namespace(sim_api) as namespace:
        first, _ = promote(sim_cluster, namespace, tmp_path, "--lock", str(real_lock), "--host", ollama_host)
        second, report = promote(sim_cluster, namespace, tmp_path, "--lock", str(bigger_lock), "--host", ollama_host)
        assert (first, second) == (0, 0), report.get("error")
        assert report["revision"] == 2 and report["changed"]
        before = _manifest_by_object(sim_cluster, namespace, 1)
        after = _manifest_by_object(sim_cluster, namespace, 2)
    assert before.keys() == after.keys()
    changed = sorted(name for name in before if before[name] != after[name])
    # the page's list of the lock's models is a mounted file: it changes in place, the app Deployment does not
    expected = ["ConfigMap/snap2prod-app-lock", "ConfigMap/snap2prod-ollama-models", "Deployment/snap2prod-ollama"]
    assert changed == expected, changed
    for listing in ("ConfigMap/snap2prod-ollama-models", "ConfigMap/snap2prod-app-lock"):
        assert vision_model in after[listing] and vision_model not in before[listing]


def test_a_port_forward_that_cannot_start_fails_at_once_with_kubectls_own_words(tmp_path: Path) -> None:
    """The real kubectl, pointed at a kubeconfig that is not there: verify does not wait out its 30 s."""
    missing = tmp_path / "kubeconfig"
    start = time.monotonic()
    with pytest.raises(verify.ForwardFailed) as failed, verify.cluster_ollama(missing, None, "ns", "ollama", 11434):
        pass
    assert time.monotonic() - start < 10
    assert str(failed.value) == (
        "kubectl port-forward did not forward a port (waited up to 30 s): "
        f"error: stat {missing}: no such file or directory"
    )
