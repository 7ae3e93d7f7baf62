"""`kind up --gpus 2`: a KIND cluster whose worker looks like a GPU node to the scheduler and runs pods on CPU.

The worker reports `nvidia.com/gpu: 2`, carries the GFD labels and the GPU taint; RuntimeClass `nvidia` is runc;
a pod shaped like the production Ollama pod (runtimeClassName, toleration, GFD node selector, a GPU limit)
becomes Running there. The shape is part of the cluster: the same one is reused, another one is refused.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.gpu_shape import GPU_TAINT, gpu_labels
from scripts.kind import cluster, gpu
from tests.kube import wait_for

NAME = "snap2prod-gpu"
POD = "gpu-shaped"


def _kubectl(*args: str, stdin: str | None = None) -> str:
    cmd = [*cluster.kubectl(NAME), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout


def _get(*args: str) -> Any:
    return json.loads(_kubectl("get", *args, "-o", "json"))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stacks/local/kind.yaml without host ports: the `snap2prod` cluster of test_kind.py may hold them."""
    data = yaml.safe_load(cluster.KIND_CONFIG.read_text())
    data["nodes"][0].pop("extraPortMappings")
    path = tmp_path_factory.mktemp("kind-gpu") / "kind.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def up(config: Path) -> Iterator[cluster.UpResult]:
    try:
        yield cluster.up(NAME, config_path=config, gpus=2)
    finally:
        cluster.down(NAME)


@pytest.fixture(scope="module")
def worker(up: cluster.UpResult) -> dict[str, Any]:
    record = cluster.read_record(NAME)
    assert record is not None and record.gpu_node == f"{NAME}-worker"
    node: dict[str, Any] = _get("node", record.gpu_node)
    return node


def test_the_worker_advertises_two_gpus_with_the_gfd_labels_and_the_taint(
    up: cluster.UpResult, worker: dict[str, Any]
) -> None:
    assert up.created and up.gpu is not None
    assert worker["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    labels = worker["metadata"]["labels"]
    assert {k: labels.get(k) for k in gpu_labels(up.gpu)} == gpu_labels(up.gpu)
    assert labels["snap2prod.dev/pool"] == "gpu"
    assert [{k: t.get(k) for k in GPU_TAINT} for t in worker["spec"]["taints"]] == [GPU_TAINT]
    control_plane = _get("node", f"{NAME}-control-plane")
    assert "nvidia.com/gpu" not in control_plane["status"]["allocatable"]
    assert not control_plane["spec"].get("taints")  # the app, without a GPU toleration, runs there


def test_the_runtime_class_nvidia_is_runc(up: cluster.UpResult) -> None:
    assert _get("runtimeclass", gpu.RUNTIME_CLASS)["handler"] == "runc"


def test_a_pod_shaped_like_the_prod_ollama_pod_runs_on_the_worker(up: cluster.UpResult, worker: dict[str, Any]) -> None:
    images = [name for image in worker["status"]["images"] for name in image["names"]]
    helper = next(name for name in images if "local-path-helper" in name and "@" not in name)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": "default"},
        "spec": {
            "runtimeClassName": gpu.RUNTIME_CLASS,
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": helper,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }
    _kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    running = wait_for("the GPU-shaped pod Running", lambda: _running(), timeout_s=120)
    assert running["spec"]["nodeName"] == worker["metadata"]["name"]
    assert ipaddress.ip_address(running["status"]["podIP"]) in ipaddress.ip_network(worker["spec"]["podCIDR"])


def _running() -> dict[str, Any] | None:
    pod: dict[str, Any] = _get("pod", POD, "-n", "default")
    return pod if pod["status"].get("phase") == "Running" else None


def test_a_second_up_with_the_same_shape_changes_nothing(up: cluster.UpResult, config: Path) -> None:
    again = cluster.up(NAME, config_path=config, gpus=2)
    assert not again.created
    assert cluster.status(NAME).gpu == "2 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 2)"


def test_up_with_another_gpu_count_is_refused(up: cluster.UpResult, config: Path) -> None:
    with pytest.raises(cluster.KindError, match="exists with 2 × NVIDIA-A100-SXM4-80GB"):
        cluster.up(NAME, config_path=config, gpus=3)
