"""The rehearsal cluster: a real kube-apiserver, scheduler and controller-manager with kwok's simulated GPU nodes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pyhelm3 import Client as HelmClient
from pyhelm3.models import ReleaseRevisionStatus

from scripts import cli, paths, toolchain
from scripts.gpu_shape import GPU_RESOURCE
from scripts.processes import free_port, port_in_use
from scripts.sim import CONTEXT, START_TIMEOUT_S, Sim, SimCluster, SimError, SimSpec
from scripts.sim.nodes import node_manifests
from tests.conftest import SIM_GROUP
from tests.kube import delete_namespace, exists, wait_for

pytestmark = pytest.mark.xdist_group(SIM_GROUP)  # kwok clusters are made on one worker

CHART = Path(__file__).parents[1] / "fixtures" / "charts" / "sim-echo"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture
def core(sim_api: Any) -> client.CoreV1Api:
    return client.CoreV1Api(sim_api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace of the test's own; deleted afterwards (tests.kube.delete_namespace)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for("the default ServiceAccount", lambda: exists(core.read_namespaced_service_account, "default", name))
    yield name
    delete_namespace(core, name)


def pod(
    name: str, *, gpus: int = 0, resource: str = GPU_RESOURCE, tolerate: bool = True, **spec: Any
) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    if gpus:
        resources["limits"] = {resource: str(gpus)}
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "containers": [{"name": "main", "image": "registry.invalid/app:1", "resources": resources}],
            "tolerations": [GPU_TOLERATION] if tolerate else [],
            **spec,
        },
    }


def scheduling_message(core: client.CoreV1Api, ns: str, name: str) -> str:
    """The scheduler's FailedScheduling event for the pod ("" until there is one)."""
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    return " | ".join(e.message or "" for e in events if e.reason == "FailedScheduling")


def listening_ports(pids: list[int]) -> set[int]:
    """TCP ports in LISTEN state whose sockets belong to ``pids`` (from /proc, no tools needed)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def alive(pid: int) -> bool:
    """Any thread of the process still runs (a zombie leader can have live threads holding sockets)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().split(") ", 1)[1][0])
        except OSError:
            continue
    return any(state not in "ZX" for state in states)


# --- bad input: a clear one-line error, a non-zero exit, nothing started -----------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = cli.main(args)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_a_negative_node_count_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, output = run_cli(["sim", "up", "--gpu-nodes", "-1", "--dir", str(tmp_path)], capsys)
    assert rc == 1
    assert output.strip() == "error: --gpu-nodes must be between 0 and 100, got -1"
    assert not (tmp_path / "kwok").exists()


def test_an_unknown_mig_profile_is_refused_naming_the_profiles_offered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, output = run_cli(["sim", "up", "--mig", "9g.999gb", "--dir", str(tmp_path)], capsys)
    assert rc == 1
    assert "unknown MIG profile '9g.999gb' for NVIDIA-A100-SXM4-80GB; it offers: 1g.10gb, 1g.20gb" in output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output


def test_a_mig_profile_on_a_gpu_without_mig_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, output = run_cli(
        ["sim", "up", "--gpu-product", "NVIDIA-L4", "--mig", "1g.10gb", "--dir", str(tmp_path)], capsys
    )
    assert rc == 1
    assert "it offers: none (it does not support MIG)" in output


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, output = run_cli(["sim", "up", "--port", str(port), "--dir", str(tmp_path)], capsys)
    assert rc == 1
    assert output.strip() == f"error: port {port} is in use; pick another --port, or leave it out to get a free one"
    assert not (tmp_path / "kwok").exists()


def test_status_without_a_cluster_says_so_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, output = run_cli(["sim", "status", "--dir", str(tmp_path)], capsys)
    assert rc == 1
    assert "not running" in output


def test_a_mig_node_offers_slices_instead_of_whole_gpus() -> None:
    (node,) = node_manifests(SimSpec(gpu_nodes=1, gpus_per_node=2, cpu_nodes=0, mig="1g.10gb"))
    assert node["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] == "14"
    assert node["status"]["allocatable"][GPU_RESOURCE] == "0"
    assert node["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
    assert node["metadata"]["labels"]["nvidia.com/mig-1g.10gb.count"] == "14"


# --- the shared cluster ------------------------------------------------------------------------------


def test_gpu_nodes_show_what_a_real_gpu_node_shows(sim_cluster: SimCluster, core: client.CoreV1Api) -> None:
    gpu_nodes = core.list_node(label_selector="nvidia.com/gpu.present=true").items
    assert sorted(n.metadata.name for n in gpu_nodes) == ["sim-gpu-0", "sim-gpu-1"]
    for node in gpu_nodes:
        assert node.status.capacity[GPU_RESOURCE] == "2"
        assert node.status.allocatable[GPU_RESOURCE] == "2"
        labels = node.metadata.labels
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        assert labels["nvidia.com/gpu.memory"] == "81920"
        assert labels["nvidia.com/gpu.count"] == "2"
        assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("nvidia.com/gpu", "present", "NoSchedule")]
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    cpu = core.read_node("sim-cpu-0")
    assert (cpu.status.allocatable["cpu"], cpu.status.allocatable["pods"]) == ("7500m", "110")
    assert GPU_RESOURCE not in cpu.status.allocatable


def test_the_kubeconfig_has_the_snap2prod_sim_context(sim_cluster: SimCluster) -> None:
    assert sim_cluster.context == CONTEXT
    text = sim_cluster.kubeconfig.read_text()
    assert "current-context: snap2prod-sim" in text
    assert "client-key-data" in text  # self-contained: works after the state dir's pki moves


def test_a_gpu_deployment_is_placed_on_a_gpu_node_and_becomes_ready(
    sim_api: Any, core: client.CoreV1Api, namespace: str
) -> None:
    apps = client.AppsV1Api(sim_api)
    template = pod("gpu-app", gpus=1)
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "gpu-app"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "gpu-app"}}, "template": template},
        },
    )
    wait_for(
        "the Deployment to be available",
        lambda: apps.read_namespaced_deployment("gpu-app", namespace).status.available_replicas == 1,
    )
    (placed,) = core.list_namespaced_pod(namespace, label_selector="app=gpu-app").items
    assert placed.spec.node_name in {"sim-gpu-0", "sim-gpu-1"}
    assert placed.status.phase == "Running"
    assert {c.type: c.status for c in placed.status.conditions}["Ready"] == "True"


def test_a_pod_wanting_more_gpus_than_any_node_has_stays_pending(
    sim_spec: SimSpec, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, pod("too-big", gpus=sim_spec.gpus_per_node + 1))
    message = wait_for("a FailedScheduling event", lambda: scheduling_message(core, namespace, "too-big"))
    assert "Insufficient nvidia.com/gpu" in message
    waiting = core.read_namespaced_pod("too-big", namespace)
    assert waiting.status.phase == "Pending"
    assert waiting.spec.node_name is None


def test_a_pod_without_the_toleration_never_lands_on_a_gpu_node(core: client.CoreV1Api, namespace: str) -> None:
    wants_gpu_node = pod("no-toleration", tolerate=False, nodeSelector={"nvidia.com/gpu.present": "true"})
    core.create_namespaced_pod(namespace, wants_gpu_node)
    message = wait_for("a FailedScheduling event", lambda: scheduling_message(core, namespace, "no-toleration"))
    assert "2 node(s) had untolerated taint" in message  # both GPU nodes, for their nvidia.com/gpu taint
    assert core.read_namespaced_pod("no-toleration", namespace).spec.node_name is None


def test_untolerating_replicas_all_go_to_the_cpu_node(sim_api: Any, core: client.CoreV1Api, namespace: str) -> None:
    apps = client.AppsV1Api(sim_api)
    template = pod("web", tolerate=False)
    spec = {"replicas": 4, "selector": {"matchLabels": {"app": "web"}}, "template": template}
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "web"}, "spec": spec})
    wait_for("4 ready replicas", lambda: apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 4)
    nodes = {p.spec.node_name for p in core.list_namespaced_pod(namespace, label_selector="app=web").items}
    assert nodes == {"sim-cpu-0"}


def test_a_job_reaches_complete(sim_api: Any, namespace: str) -> None:
    batch = client.BatchV1Api(sim_api)
    template = pod("once", restartPolicy="Never")
    batch.create_namespaced_job(namespace, {"metadata": {"name": "once"}, "spec": {"template": template}})

    def complete() -> bool:
        job = batch.read_namespaced_job("once", namespace)
        return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])

    wait_for("the Job to complete", complete)
    assert batch.read_namespaced_job("once", namespace).status.succeeded == 1


def test_a_bare_run_to_completion_pod_succeeds_and_a_serving_pod_keeps_running(
    core: client.CoreV1Api, namespace: str
) -> None:
    """What a kubelet does with a `helm test` hook pod (restartPolicy Never): it runs to the end; a bare pod that
    restarts (Always, the default) serves until deleted."""
    core.create_namespaced_pod(namespace, pod("test-hook", restartPolicy="Never"))
    core.create_namespaced_pod(namespace, pod("serving"))
    wait_for(
        "the hook pod to succeed", lambda: core.read_namespaced_pod("test-hook", namespace).status.phase == "Succeeded"
    )
    (status,) = core.read_namespaced_pod("test-hook", namespace).status.container_statuses
    assert status.state.terminated.exit_code == 0 and status.state.terminated.reason == "Completed"
    wait_for("the serving pod to run", lambda: core.read_namespaced_pod("serving", namespace).status.phase == "Running")
    time.sleep(1)  # kwok applies a stage within milliseconds; a second is ample for a wrong one to show
    assert core.read_namespaced_pod("serving", namespace).status.phase == "Running"


def test_a_statefulset_gets_ready_pods_with_bound_claims(sim_api: Any, core: client.CoreV1Api, namespace: str) -> None:
    apps = client.AppsV1Api(sim_api)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    spec = {
        "serviceName": "db",
        "replicas": 2,
        "selector": {"matchLabels": {"app": "db"}},
        "template": pod("db", tolerate=False),
        "volumeClaimTemplates": [claim],
    }
    apps.create_namespaced_stateful_set(namespace, {"metadata": {"name": "db"}, "spec": spec})
    wait_for("2 ready replicas", lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 2)
    claims = core.list_namespaced_persistent_volume_claim(namespace).items
    assert sorted((c.metadata.name, c.status.phase) for c in claims) == [("data-db-0", "Bound"), ("data-db-1", "Bound")]


def test_a_claim_binds_through_the_default_storage_class(core: client.CoreV1Api, namespace: str) -> None:
    claim = {
        "metadata": {"name": "models"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(namespace, claim)
    wait_for(
        "the claim to bind",
        lambda: core.read_namespaced_persistent_volume_claim("models", namespace).status.phase == "Bound",
    )
    bound = core.read_namespaced_persistent_volume_claim("models", namespace)
    assert bound.spec.storage_class_name == "kwok-volume"
    assert bound.status.capacity["storage"] == "20Gi"


def test_status_counts_gpus_used_and_free(
    sim: Sim, core: client.CoreV1Api, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    core.create_namespaced_pod(namespace, pod("one-gpu", gpus=1, nodeName="sim-gpu-1"))
    wait_for("the pod to run", lambda: core.read_namespaced_pod("one-gpu", namespace).status.phase == "Running")
    rows = {row.name: row for row in sim.status().nodes}
    assert (rows["sim-gpu-1"].allocatable, rows["sim-gpu-1"].used, rows["sim-gpu-1"].free) == (2, 1, 1)
    assert (rows["sim-gpu-0"].used, rows["sim-gpu-0"].free) == (0, 2)
    rc, output = run_cli(["sim", "status", "--dir", str(sim.root)], capsys)
    assert rc == 0
    assert "GPUs: 1 used, 3 free of 4" in output


def test_a_second_up_with_the_same_flags_changes_nothing(
    sim: Sim, sim_spec: SimSpec, sim_cluster: SimCluster, core: client.CoreV1Api
) -> None:
    pids = sim.processes()
    uids = {n.metadata.name: n.metadata.uid for n in core.list_node().items}
    again = sim.up(sim_spec)
    assert again.server == sim_cluster.server
    assert sim.processes() == pids
    assert {n.metadata.name: n.metadata.uid for n in core.list_node().items} == uids


def test_up_on_another_port_than_the_running_cluster_is_refused(sim: Sim, sim_spec: SimSpec) -> None:
    with pytest.raises(SimError, match=r"already uses port \d+; run `snap2prod sim down` to change it"):
        sim.up(sim_spec, port=free_port())


# --- kubectl and Helm keep their caches out of $HOME -------------------------------------------------------------

RUN_EACH = "import json, subprocess, sys\nfor cmd in json.loads(sys.argv[1]):\n    subprocess.run(cmd, check=True)\n"


def _kubectl_and_helm_in_a_fresh_home(cluster: SimCluster, home: Path, *, import_scripts: bool) -> Path:
    """kubectl and Helm run on the sim cluster by a Python process whose $HOME is ``home`` (no ~/.kube in it) and
    whose environment names no cache of theirs; the process imports ``scripts`` first, as every part of the
    project does, or not. Returns the snap2prod cache it was given."""
    cache = home / "snap2prod-cache"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in paths.KUBE_CACHE_ENV}
    env |= {"HOME": str(home), "SNAP2PROD_CACHE": str(cache)}
    where = ["--kubeconfig", str(cluster.kubeconfig)]
    kubectl = [str(toolchain.binary("kubectl")), *where, "--context", cluster.context, "get", "nodes"]
    helm = [str(toolchain.binary("helm")), *where, "--kube-context", cluster.context, "upgrade", "--install"]
    commands = [kubectl, [*helm, "cache-probe", str(CHART), "-n", "default", "--dry-run=server"]]
    code = ("import scripts\n" if import_scripts else "") + RUN_EACH
    subprocess.run([sys.executable, "-c", code, json.dumps(commands)], env=env, check=True, capture_output=True)
    return cache


def test_kubectl_and_helm_keep_their_caches_out_of_home(sim_cluster: SimCluster, tmp_path: Path) -> None:
    cache = _kubectl_and_helm_in_a_fresh_home(sim_cluster, tmp_path / "ours", import_scripts=True)
    assert not (tmp_path / "ours" / ".kube").exists()
    assert not (tmp_path / "ours" / ".cache" / "helm").exists()
    assert any((cache / "kube-cache" / "discovery").iterdir())  # where they went instead

    # The control: the same commands without the project's environment write the discovery cache into that home,
    # so the check above would see it.
    _kubectl_and_helm_in_a_fresh_home(sim_cluster, tmp_path / "bare", import_scripts=False)
    assert any((tmp_path / "bare" / ".kube" / "cache" / "discovery").iterdir())


# --- Helm v4 through pyhelm3 -------------------------------------------------------------------------


def helm_client(cluster: SimCluster) -> HelmClient:
    return HelmClient(
        executable=str(toolchain.binary("helm")), kubeconfig=cluster.kubeconfig, kubecontext=cluster.context
    )


def test_pyhelm3_parses_the_helm_version(sim_cluster: SimCluster) -> None:
    assert str(helm_client(sim_cluster).version) == toolchain.HELM_VERSION


def test_helm_installs_upgrades_rolls_back_and_uninstalls_a_chart(
    sim_cluster: SimCluster, sim_api: Any, core: client.CoreV1Api, namespace: str
) -> None:
    helm = helm_client(sim_cluster)
    apps = client.AppsV1Api(sim_api)

    def message() -> str:
        return str(core.read_namespaced_config_map("echo", namespace).data["message"])

    async def lifecycle() -> None:
        chart = await helm.get_chart(CHART)
        first = await helm.install_or_upgrade_release(
            "echo", chart, {"message": "one", "gpus": 1}, namespace=namespace, wait=True, timeout="90s"
        )
        assert (first.revision, first.status) == (1, ReleaseRevisionStatus.DEPLOYED)
        assert message() == "one"
        assert apps.read_namespaced_deployment("echo", namespace).status.ready_replicas == 1
        (placed,) = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/instance=echo").items
        assert placed.spec.node_name.startswith("sim-gpu-")

        second = await helm.install_or_upgrade_release(
            "echo", chart, {"message": "two", "gpus": 1}, namespace=namespace, wait=True, timeout="90s"
        )
        assert (second.revision, message()) == (2, "two")

        rolled_back = await second.release.rollback(1, wait=True, timeout="90s")
        assert (rolled_back.revision, rolled_back.status, message()) == (3, ReleaseRevisionStatus.DEPLOYED, "one")

        await helm.uninstall_release("echo", namespace=namespace, wait=True, timeout="90s")
        assert list(await helm.list_releases(namespace=namespace)) == []
        assert not exists(apps.read_namespaced_deployment, "echo", namespace)

    asyncio.run(lifecycle())


# --- clusters of their own ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mig_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    own = Sim(tmp_path_factory.mktemp("sim-mig"))
    own.up(SimSpec(gpu_nodes=1, gpus_per_node=1, cpu_nodes=0, mig="1g.10gb"))
    yield own
    own.down()


def test_a_pod_requesting_a_mig_slice_is_placed_on_the_mig_node(mig_sim: Sim) -> None:
    api = mig_sim.api_client()
    try:
        mig_core = client.CoreV1Api(api)
        node = mig_core.read_node("sim-gpu-0")
        assert (node.status.allocatable[GPU_RESOURCE], "nvidia.com/mig-1g.10gb" in node.status.allocatable) == (
            "0",
            True,
        )
        mig_core.create_namespaced_pod("default", pod("slice", gpus=1, resource="nvidia.com/mig-1g.10gb"))
        wait_for("the pod to run", lambda: mig_core.read_namespaced_pod("slice", "default").status.phase == "Running")
        assert mig_core.read_namespaced_pod("slice", "default").spec.node_name == "sim-gpu-0"
    finally:
        api.close()


def test_up_with_other_flags_rebuilds_the_nodes_to_match(mig_sim: Sim) -> None:
    api = mig_sim.api_client()
    try:
        mig_core = client.CoreV1Api(api)
        before = mig_core.read_node("sim-gpu-0").metadata.uid
        mig_sim.up(SimSpec(gpu_nodes=1, gpus_per_node=2, cpu_nodes=1, mig="1g.10gb"))
        after = mig_core.read_node("sim-gpu-0")
        assert after.metadata.uid != before
        assert after.status.allocatable["nvidia.com/mig-1g.10gb"] == "14"
        assert {n.metadata.name for n in mig_core.list_node().items} == {"sim-gpu-0", "sim-cpu-0"}
    finally:
        api.close()


def test_up_restarts_a_cluster_whose_processes_died(mig_sim: Sim) -> None:
    spec = SimSpec(gpu_nodes=1, gpus_per_node=2, cpu_nodes=1, mig="1g.10gb")
    mig_sim.up(spec)
    api = mig_sim.api_client()
    try:
        uid = client.CoreV1Api(api).read_node("sim-gpu-0").metadata.uid
        pids = mig_sim.processes()
        for pid in pids:  # what a reboot or the OOM killer does
            os.kill(pid, signal.SIGKILL)
        wait_for("the processes to die", lambda: not any(alive(p) for p in pids), 10)

        mig_sim.up(spec)

        assert len(mig_sim.processes()) >= 5
        restarted = client.CoreV1Api(api)
        assert restarted.read_node("sim-gpu-0").metadata.uid == uid  # etcd's data survived
        name = f"after-restart-{uuid.uuid4().hex[:6]}"
        restarted.create_namespaced_pod("default", pod(name, gpus=1, resource="nvidia.com/mig-1g.10gb"))
        # the new scheduler and kwok act at once (leases naming their dead predecessors would stall them 15-40 s)
        wait_for("the pod to run", lambda: restarted.read_namespaced_pod(name, "default").status.phase == "Running", 10)
    finally:
        api.close()


def test_a_component_that_cannot_start_fails_fast_naming_it(mig_sim: Sim) -> None:
    spec = SimSpec(gpu_nodes=1, gpus_per_node=2, cpu_nodes=1, mig="1g.10gb")
    saved = yaml.safe_load_all((mig_sim.cluster_dir / "kwok.yaml").read_text())
    etcd_port = next(d for d in saved if d["kind"] == "KwokctlConfiguration")["options"]["etcdPort"]
    pids = mig_sim.processes()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for("the processes to die", lambda: not any(alive(p) for p in pids), 10)

    with socket.socket() as squatter:  # another program took etcd's port while the cluster was stopped
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port has connections in TIME_WAIT
        squatter.bind(("127.0.0.1", etcd_port))
        squatter.listen()
        started = time.monotonic()
        with pytest.raises(SimError, match=rf"etcd exited during start-up: 127.0.0.1:{etcd_port} is in use by another"):
            mig_sim.up(spec)
        assert time.monotonic() - started < START_TIMEOUT_S  # it did not sit out the start-up timeout
        assert mig_sim.processes() == []  # what did start was stopped again

    mig_sim.up(spec)  # the port is free again: the same cluster comes back
    assert len(mig_sim.processes()) >= 5


def test_down_leaves_no_process_or_port_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    own = Sim(tmp_path / "sim")
    api_port = free_port()
    rc, output = run_cli(
        [
            "sim",
            "up",
            "--gpu-nodes",
            "1",
            "--gpus-per-node",
            "1",
            "--cpu-nodes",
            "0",
            "--port",
            str(api_port),
            "--dir",
            str(own.root),
        ],
        capsys,
    )
    assert rc == 0, output
    assert f"export KUBECONFIG={own.kubeconfig}" in output
    pids = own.processes()
    ports = listening_ports(pids)
    assert len(pids) >= 5  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller
    assert api_port in ports

    rc, output = run_cli(["sim", "down", "--dir", str(own.root)], capsys)

    assert rc == 0, output
    assert [p for p in pids if alive(p)] == []
    busy = [p for p in ports if port_in_use(p)]
    assert busy == [], f"still listening: {busy}; ports were {sorted(ports)} of pids {pids}"
    assert own.processes() == []
    assert not own.cluster_dir.exists()
    assert not own.kubeconfig.exists()
