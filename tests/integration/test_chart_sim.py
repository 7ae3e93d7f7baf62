"""The chart against the rehearsal cluster: a real kube-apiserver, scheduler and controllers, kwok's GPU nodes.

Every environment's objects go through the API server's validation (strict field validation, dry run) and its
Pod Security admission in a namespace that enforces `restricted`. Then releases are installed with Helm and the
real scheduler places them: Ollama on a GPU node (or a MIG slice, or a DRA-allocated device), Pending with the
scheduler's reason when no node has the GPU asked for. kwok plays the kubelets: no image is pulled and no
container runs here (tests/integration/test_chart_scripts.py runs the chart's programs for real).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from scripts.sim import Sim, SimCluster, SimSpec
from tests.conftest import SIM_GROUP
from tests.fixtures.chart.helm import (
    CHART,
    ENVIRONMENTS,
    FIXTURE_LOCK,
    helm,
    lock_values,
    pod_specs,
    template,
    values_args,
    write_values,
)
from tests.kube import delete_namespace, exists, wait_for

pytestmark = pytest.mark.xdist_group(SIM_GROUP)  # kwok clusters are made on one worker

RELEASE = "snap2prod"
OLLAMA = f"{RELEASE}-ollama"
APP = f"{RELEASE}-app"
TIMEOUT = "120s"


@contextlib.contextmanager
def restricted_namespace(api: Any) -> Iterator[str]:
    """A namespace of its own whose Pod Security admission *enforces* the restricted standard."""
    core = client.CoreV1Api(api)
    name = f"chart-{uuid.uuid4().hex[:8]}"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    wait_for("the default ServiceAccount", lambda: exists(core.read_namespaced_service_account, "default", name))
    try:
        yield name
    finally:
        delete_namespace(core, name)


@contextlib.contextmanager
def gpu_operator_runtime_class(api: Any) -> Iterator[None]:
    """RuntimeClass `nvidia`, as NVIDIA's GPU Operator creates it (prod values ask for it)."""
    node = client.NodeV1Api(api)
    created = not exists(node.read_runtime_class, "nvidia")
    if created:
        node.create_runtime_class({"metadata": {"name": "nvidia"}, "handler": "nvidia"})
    try:
        yield
    finally:
        if created:
            node.delete_runtime_class("nvidia")


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lock_values(tmp_path_factory.mktemp("lock") / "lock-values.yaml")


@pytest.fixture(scope="module")
def runtime_class(sim_api: Any) -> Iterator[None]:
    with gpu_operator_runtime_class(sim_api):
        yield


def helm_on(cluster: SimCluster, *args: str) -> str:
    proc = helm(*args, kubeconfig=cluster.kubeconfig, context=cluster.context)
    assert proc.returncode == 0, f"helm {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def install(
    cluster: SimCluster, namespace: str, env: str, *extra: Path, sets: tuple[str, ...] = (), wait: bool = True
) -> str:
    args = ["install", RELEASE, str(CHART), "-n", namespace, *values_args(env, *extra)]
    for s in sets:
        args += ["--set", s]
    if wait:
        args += ["--wait", "--timeout", TIMEOUT]
    return helm_on(cluster, *args)


def ollama_pod(core: client.CoreV1Api, namespace: str) -> Any:
    pods = wait_for(
        "the Ollama pod",
        lambda: core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=ollama").items,
    )
    (pod,) = pods
    return pod


def scheduling_message(core: client.CoreV1Api, namespace: str, pod: str) -> str:
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    return " | ".join(e.message or "" for e in events if e.reason == "FailedScheduling")


def gpu_scheduling_message(core: client.CoreV1Api, namespace: str, pod: str) -> str:
    """The scheduler's FailedScheduling events once one is about GPUs ("" before): the first attempt can fail only
    because the models claim is not bound yet ("pod has unbound immediate PersistentVolumeClaims"), a moment
    before the volume binder binds it."""
    message = scheduling_message(core, namespace, pod)
    return message if "nvidia.com/gpu" in message else ""


# --- server-side validation of every environment ---------------------------------------------------------------


def dry_run_create(api: Any, namespace: str, doc: dict[str, Any]) -> tuple[int, str]:
    """POST ``doc`` with dryRun=All and fieldValidation=Strict: the API server validates and admits it (Pod
    Security included) without storing it. Returns the HTTP status and the error message ("" when accepted)."""
    resource = DynamicClient(api).resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    path = resource.path(namespace=namespace) if resource.namespaced else resource.path()
    url = f"{api.configuration.host}{path}?dryRun=All&fieldValidation=Strict"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    try:
        response = api.rest_client.request("POST", url, headers=headers, body=doc)
        response.read()
    except ApiException as err:
        return int(err.status), str(json.loads(err.body or "{}").get("message", err.body))
    if not 200 <= response.status < 300:
        return int(response.status), str(json.loads(response.data or b"{}").get("message", ""))
    return int(response.status), ""


def as_pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A bare Pod with a workload's pod template: Pod Security enforces on Pods (on workloads it only warns)."""
    pod_name = name.split("/", 1)[1]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{pod_name}-check"}, "spec": spec}


@pytest.fixture(scope="module")
def checked_namespace(sim_api: Any, runtime_class: None) -> Iterator[str]:
    with restricted_namespace(sim_api) as namespace:
        yield namespace


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_passes_the_api_servers_strict_validation(
    env: str, sim_api: Any, checked_namespace: str, lock_file: Path
) -> None:
    docs = template(env, lock_file)
    rejected = {f"{d['kind']}/{d['metadata']['name']}": dry_run_create(sim_api, checked_namespace, d) for d in docs}
    assert {name: result for name, result in rejected.items() if result[0] >= 300} == {}
    assert len(rejected) >= 6  # keynote mode: the app's ConfigMap, Deployment, Service, NetworkPolicy, helm test


def test_the_strict_dry_run_catches_a_field_that_helms_server_dry_run_lets_through(
    sim_cluster: SimCluster, sim_api: Any, checked_namespace: str, lock_file: Path
) -> None:
    # ollama.affinity is free-form in the schema: only the cluster knows what an affinity may hold. Helm 4.3.1's
    # --dry-run=server renders against the cluster but sends nothing, so a typo there passes it; the API
    # server's own dry run with fieldValidation=Strict (used for every environment above) refuses it.
    typo = "ollama.affinity.nodeAfinity.x=1"
    helm_on(
        sim_cluster,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        checked_namespace,
        "--dry-run=server",
        *values_args("prod", lock_file),
        "--set",
        typo,
    )
    deployment = next(
        d
        for d in template("prod", lock_file, sets=[typo])
        if d["kind"] == "Deployment" and d["metadata"]["name"] == OLLAMA
    )
    status, message = dry_run_create(sim_api, checked_namespace, deployment)
    assert status == 400
    assert 'unknown field "spec.template.spec.affinity.nodeAfinity"' in message


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_is_admitted_where_the_restricted_standard_is_enforced(
    env: str, sim_api: Any, checked_namespace: str, lock_file: Path
) -> None:
    pods = [as_pod(name, spec) for name, spec in pod_specs(template(env, lock_file))]
    assert len(pods) >= 2
    results = {p["metadata"]["name"]: dry_run_create(sim_api, checked_namespace, p) for p in pods}
    assert {name: r for name, r in results.items() if r[0] >= 300} == {}


def test_a_pod_breaking_the_restricted_standard_is_refused_there(
    sim_api: Any, checked_namespace: str, lock_file: Path
) -> None:
    (name, spec), *_ = pod_specs(template("prod", lock_file))
    spec["securityContext"].pop("seccompProfile")
    status, message = dry_run_create(sim_api, checked_namespace, as_pod(name, spec))
    assert status == 403
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "seccompProfile" in message


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_accepts_every_environment_in_a_server_dry_run(
    env: str, sim_cluster: SimCluster, checked_namespace: str, lock_file: Path
) -> None:
    out = helm_on(
        sim_cluster,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        checked_namespace,
        "--dry-run=server",
        *values_args(env, lock_file),
    )
    assert "STATUS: pending-install" in out
    assert "DESCRIPTION: Dry run complete" in out


# --- the monitoring objects, with the Prometheus Operator's CRDs installed ------------------------------------

MONITORING_CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "chart" / "monitoring-crds.yaml"
METRICS_ON = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
    "metrics.prometheusRule.enabled=true",
    "metrics.grafanaDashboard.enabled=true",
    "metrics.grafanaDashboard.annotations.grafana_folder=snap2prod",
    "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
)


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    conditions = ext.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _served(api: Any, kind: str) -> bool:
    try:
        DynamicClient(api).resources.get(api_version="monitoring.coreos.com/v1", kind=kind)
    except ResourceNotFoundError:  # discovery has not caught up yet
        return False
    return True


@pytest.fixture(scope="module")
def monitoring_crds(sim_api: Any) -> Iterator[None]:
    """ServiceMonitor and PrometheusRule CRDs (tests/fixtures/chart/monitoring-crds.yaml), removed afterwards."""
    ext = client.ApiextensionsV1Api(sim_api)
    crds = [d for d in yaml.safe_load_all(MONITORING_CRDS.read_text()) if d]
    names = [crd["metadata"]["name"] for crd in crds]
    for crd in crds:
        ext.create_custom_resource_definition(crd)
    try:
        for crd in crds:
            name, kind = crd["metadata"]["name"], crd["spec"]["names"]["kind"]
            wait_for(f"CRD {name} to be established", lambda name=name: _established(ext, name), 60)
            wait_for(f"{kind} to be discoverable", lambda kind=kind: _served(sim_api, kind), 60)
        yield
    finally:
        for name in names:
            ext.delete_custom_resource_definition(name)
        for name in names:
            wait_for(f"CRD {name} to go away", lambda name=name: not exists(ext.read_custom_resource_definition, name))


def test_the_monitoring_objects_pass_strict_validation_with_the_operators_crds(
    sim_api: Any, checked_namespace: str, lock_file: Path, monitoring_crds: None
) -> None:
    docs = template("prod", lock_file, sets=METRICS_ON)
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds
    results = {f"{d['kind']}/{d['metadata']['name']}": dry_run_create(sim_api, checked_namespace, d) for d in docs}
    assert {name: r for name, r in results.items() if r[0] >= 300} == {}
    assert f"ConfigMap/{APP}-dashboard" in results


def test_the_crds_strict_validation_refuses_a_monitoring_field_the_operator_does_not_know(
    sim_api: Any, checked_namespace: str, lock_file: Path, monitoring_crds: None
) -> None:
    docs = template("prod", lock_file, sets=METRICS_ON)
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    status, message = dry_run_create(sim_api, checked_namespace, monitor)
    assert status == 400
    assert 'unknown field "spec.endpoints[0].intervall"' in message
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    status, message = dry_run_create(sim_api, checked_namespace, rule)
    assert status == 422
    assert "spec.groups[0].rules[0].for" in message


# --- installed on the rehearsal cluster --------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    env: str
    namespace: str


@pytest.fixture(scope="module", params=["sim", "prod"])
def release(
    request: pytest.FixtureRequest, sim_cluster: SimCluster, sim_api: Any, runtime_class: None, lock_file: Path
) -> Iterator[Release]:
    """The chart installed with `helm install --wait` in a restricted namespace, with the sim and prod values."""
    with restricted_namespace(sim_api) as namespace:
        install(sim_cluster, namespace, request.param, lock_file)
        yield Release(request.param, namespace)


def test_ollama_runs_on_a_gpu_node_with_one_gpu(release: Release, sim_api: Any) -> None:
    pod = ollama_pod(client.CoreV1Api(sim_api), release.namespace)
    assert pod.spec.node_name.startswith("sim-gpu-")
    assert pod.status.phase == "Running"
    container, gate = pod.spec.containers
    assert (container.name, gate.name) == ("ollama", "api-gate")
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert not any(k.startswith("nvidia.com/") for k in gate.resources.limits)  # the gate needs no GPU
    assert [i.name for i in pod.spec.init_containers] == ["pull-models"]


def test_the_app_is_ready_on_the_cpu_node(release: Release, sim_api: Any) -> None:
    deployment = client.AppsV1Api(sim_api).read_namespaced_deployment(APP, release.namespace)
    assert deployment.status.ready_replicas == deployment.spec.replicas >= 2
    pods = (
        client.CoreV1Api(sim_api)
        .list_namespaced_pod(release.namespace, label_selector="app.kubernetes.io/component=app")
        .items
    )
    assert {p.spec.node_name for p in pods} == {"sim-cpu-0"}  # no toleration: GPU nodes stay for Ollama


def test_the_api_server_keeps_the_app_services_client_ip_affinity(release: Release, sim_api: Any) -> None:
    """What kube-proxy acts on: the stored Service, after the API server's defaulting and validation."""
    service = client.CoreV1Api(sim_api).read_namespaced_service(APP, release.namespace)
    assert service.spec.session_affinity == "ClientIP"
    assert service.spec.session_affinity_config.client_ip.timeout_seconds == 10800


def test_the_models_claim_is_bound(release: Release, sim_api: Any) -> None:
    claim = client.CoreV1Api(sim_api).read_namespaced_persistent_volume_claim(f"{OLLAMA}-models", release.namespace)
    assert claim.status.phase == "Bound"


def test_the_helm_test_pod_is_admitted_and_runs_to_completion(release: Release, sim_cluster: SimCluster) -> None:
    # kwok completes the test's pod without running it: this checks the hook's objects, admission and Helm's
    # handling; the inference itself is tested by test_chart_scripts.py against a real Ollama.
    out = helm_on(sim_cluster, "test", RELEASE, "-n", release.namespace, "--timeout", TIMEOUT)
    assert f"TEST SUITE:     {RELEASE}-smoke-test" in out
    assert "Phase:          Succeeded" in out


def test_a_gpu_count_no_node_has_leaves_ollama_pending_with_insufficient_gpu(
    sim_cluster: SimCluster, sim_api: Any, sim_spec: SimSpec, lock_file: Path
) -> None:
    core = client.CoreV1Api(sim_api)
    with restricted_namespace(sim_api) as namespace:
        install(sim_cluster, namespace, "sim", lock_file, sets=(f"gpu.count={sim_spec.gpus_per_node + 1}",), wait=False)
        pod = ollama_pod(core, namespace)
        message = wait_for(
            "a FailedScheduling event about GPUs", lambda: gpu_scheduling_message(core, namespace, pod.metadata.name)
        )
        assert "Insufficient nvidia.com/gpu" in message
        waiting = core.read_namespaced_pod(pod.metadata.name, namespace)
        assert (waiting.status.phase, waiting.spec.node_name) == ("Pending", None)


def test_a_new_lock_replaces_the_ollama_pod_on_upgrade(
    sim_cluster: SimCluster, sim_api: Any, lock_file: Path, tmp_path: Path
) -> None:
    core = client.CoreV1Api(sim_api)
    lock = yaml.safe_load(FIXTURE_LOCK.read_text())
    lock["models"][0]["digest"] = "sha256:" + "1" * 64  # moondream re-locked
    relocked = write_values(tmp_path / "relocked.yaml", {"models": {"lock": lock}})
    with restricted_namespace(sim_api) as namespace:
        install(sim_cluster, namespace, "sim", lock_file)
        before = ollama_pod(core, namespace).metadata.uid
        helm_on(
            sim_cluster,
            "upgrade",
            RELEASE,
            str(CHART),
            "-n",
            namespace,
            *values_args("sim", relocked),
            "--wait",
            "--timeout",
            TIMEOUT,
        )
        after = wait_for(
            "one new Ollama pod",
            lambda: [
                p
                for p in core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=ollama").items
                if p.metadata.uid != before
            ],
        )
        assert len(after) == 1
        assert after[0].status.phase == "Running"
        assert [
            p.metadata.uid
            for p in core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=ollama").items
        ] == [after[0].metadata.uid]


# --- a MIG cluster of its own --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mig_api(mig_cluster: tuple[Sim, SimCluster]) -> Iterator[Any]:
    sim, _ = mig_cluster
    api = sim.api_client()
    with gpu_operator_runtime_class(api):
        yield api
    api.close()


def test_mig_values_request_the_slice_and_land_on_the_mig_node(
    mig_cluster: tuple[Sim, SimCluster], mig_api: Any, tmp_path: Path
) -> None:
    _, cluster = mig_cluster
    lock = lock_values(tmp_path / "lock.yaml")
    core = client.CoreV1Api(mig_api)
    with restricted_namespace(mig_api) as namespace:
        install(cluster, namespace, "prod-mig", lock)
        pod = ollama_pod(core, namespace)
        assert (pod.spec.node_name, pod.status.phase) == ("sim-gpu-0", "Running")
        (container,) = [c for c in pod.spec.containers if c.name == "ollama"]
        assert {k: v for k, v in container.resources.limits.items() if k.startswith("nvidia.com/")} == {
            "nvidia.com/mig-1g.10gb": "1"
        }


def test_whole_gpu_values_on_a_cluster_of_mig_slices_stay_pending_with_insufficient_gpu(
    mig_cluster: tuple[Sim, SimCluster], mig_api: Any, tmp_path: Path
) -> None:
    _, cluster = mig_cluster
    lock = lock_values(tmp_path / "lock.yaml")
    core = client.CoreV1Api(mig_api)
    with restricted_namespace(mig_api) as namespace:
        install(cluster, namespace, "prod", lock, wait=False)
        pod = ollama_pod(core, namespace)
        message = wait_for(
            "a FailedScheduling event about GPUs", lambda: gpu_scheduling_message(core, namespace, pod.metadata.name)
        )
        assert "1 Insufficient nvidia.com/gpu" in message  # the GPU node: it offers slices, not whole GPUs
        assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Pending"


# --- DRA: a simulated driver's devices, allocated by the real scheduler ------------------------------------------


@pytest.fixture(scope="module")
def dra_driver(sim_api: Any) -> Iterator[None]:
    """What NVIDIA's DRA driver publishes: DeviceClass gpu.nvidia.com and one ResourceSlice per GPU node with its
    two 80 GiB GPUs."""
    resource = client.ResourceV1Api(sim_api)
    resource.create_device_class(
        {
            "metadata": {"name": "gpu.nvidia.com"},
            "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}}]},
        }
    )
    nodes = ["sim-gpu-0", "sim-gpu-1"]
    for node in nodes:
        devices = [
            {
                "name": f"gpu-{i}",
                "attributes": {"productName": {"string": "NVIDIA-A100-SXM4-80GB"}},
                "capacity": {"memory": {"value": "80Gi"}},
            }
            for i in range(2)
        ]
        resource.create_resource_slice(
            {
                "metadata": {"name": f"{node}-gpu.nvidia.com"},
                "spec": {
                    "driver": "gpu.nvidia.com",
                    "nodeName": node,
                    "devices": devices,
                    "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                },
            }
        )
    try:
        yield
    finally:
        for node in nodes:
            resource.delete_resource_slice(f"{node}-gpu.nvidia.com")
        resource.delete_device_class("gpu.nvidia.com")


def test_dra_values_get_a_gpu_allocated_on_a_gpu_node(
    sim_cluster: SimCluster, sim_api: Any, runtime_class: None, dra_driver: None, lock_file: Path
) -> None:
    core = client.CoreV1Api(sim_api)
    with restricted_namespace(sim_api) as namespace:
        install(sim_cluster, namespace, "prod-dra", lock_file)
        pod = ollama_pod(core, namespace)
        assert pod.spec.node_name.startswith("sim-gpu-")
        assert "nvidia.com/gpu" not in (pod.spec.containers[0].resources.limits or {})
        claims = client.ResourceV1Api(sim_api).list_namespaced_resource_claim(namespace).items
        (claim,) = claims
        (result,) = claim.status.allocation.devices.results
        assert (result.driver, result.pool) == ("gpu.nvidia.com", pod.spec.node_name)
        assert claim.status.reserved_for[0].name == pod.metadata.name
