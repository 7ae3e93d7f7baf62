"""`kind up --gpus`: the GPU worker in the derived kind config, what it advertises, and the shape rules."""

from __future__ import annotations

import json

import pytest
import yaml

from scripts.gpu_shape import GPU_RESOURCE, GPU_TAINT, SimError, SimSpec, gpu_labels
from scripts.kind import cluster, gpu, node_files
from scripts.paths import STACKS


def test_without_gpus_the_config_is_the_one_node_config() -> None:
    base = cluster.load_config()
    assert gpu.shape(0) is None
    assert cluster.derived_config(base, None) == cluster.derived_config(base)
    assert cluster.derived_config(base)["nodes"] == base["nodes"]
    assert gpu.CONTROL_PLANE_SCHEDULABLE not in cluster.derived_config(base)["kubeadmConfigPatches"]
    assert cluster.node_names(cluster.derived_config(base), "snap2prod") == ["snap2prod-control-plane"]


def test_with_gpus_one_worker_carries_the_gfd_labels_and_the_gpu_taint() -> None:
    base = cluster.load_config()
    spec = gpu.shape(2, "NVIDIA-L4")
    assert spec is not None
    config = cluster.derived_config(base, spec)
    control_plane, worker = config["nodes"]
    assert control_plane == base["nodes"][0]  # labels and port mappings as in stacks/local/kind.yaml
    assert worker["role"] == "worker" and "extraPortMappings" not in worker
    assert worker["labels"] == {**gpu_labels(spec), "snap2prod.dev/pool": "gpu"}
    assert worker["labels"]["nvidia.com/gpu.count"] == "2"
    assert worker["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    (patch,) = [yaml.safe_load(p) for p in worker["kubeadmConfigPatches"]]
    assert patch == {
        "kind": "JoinConfiguration",
        "nodeRegistration": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    }
    assert yaml.safe_load(gpu.CONTROL_PLANE_SCHEDULABLE) == {
        "kind": "InitConfiguration",
        "nodeRegistration": {"taints": []},
    }
    assert gpu.CONTROL_PLANE_SCHEDULABLE in config["kubeadmConfigPatches"]
    assert cluster.host_ports(config) == cluster.host_ports(cluster.derived_config(base))
    assert cluster.node_names(config, "x") == ["x-control-plane", "x-worker"]
    assert len(base["nodes"]) == 1  # the user's dict is not changed


def test_the_prod_values_select_and_tolerate_what_the_worker_has() -> None:
    chart = yaml.safe_load((STACKS / "chart" / "values.yaml").read_text())["gpu"]
    prod = yaml.safe_load((STACKS / "prod" / "values.yaml").read_text())["gpu"]
    spec = gpu.shape(1)
    assert spec is not None
    labels = gpu.worker_node(spec)["labels"]
    assert all(labels.get(k) == v for k, v in chart["nodeSelector"].items())
    (toleration,) = chart["tolerations"]
    assert (toleration["key"], toleration["effect"]) == (GPU_TAINT["key"], GPU_TAINT["effect"])
    assert prod["runtimeClassName"] == gpu.RUNTIME_CLASS
    assert prod["resourceName"] in gpu.capacity_patch(spec)["status"]["capacity"]


def test_the_capacity_patch_advertises_whole_gpus() -> None:
    spec = gpu.shape(2)
    assert spec is not None
    assert gpu.capacity_patch(spec) == {"status": {"capacity": {"nvidia.com/gpu": "2"}}}
    assert gpu.allocatable_jsonpath(GPU_RESOURCE) == "{.status.allocatable.nvidia\\.com/gpu}"


def test_the_capacity_patch_advertises_mig_slices_and_no_whole_gpu() -> None:
    spec = gpu.shape(2, "NVIDIA-A100-SXM4-80GB", "1g.10gb")
    assert spec is not None
    assert gpu.capacity_patch(spec) == {"status": {"capacity": {"nvidia.com/gpu": "0", "nvidia.com/mig-1g.10gb": "14"}}}
    assert gpu.worker_node(spec)["labels"]["nvidia.com/mig-1g.10gb.count"] == "14"
    assert gpu.allocatable_jsonpath(spec.gpu_resource) == "{.status.allocatable.nvidia\\.com/mig-1g\\.10gb}"


def test_the_runtime_class_is_nvidia_run_by_runc() -> None:
    assert gpu.runtime_class() == {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "nvidia", "labels": {"app.kubernetes.io/managed-by": "snap2prod"}},
        "handler": "runc",
    }


def test_the_shape_is_recorded_and_another_shape_is_refused() -> None:
    two, three = gpu.shape(2), gpu.shape(3)
    record = cluster.Record("snap2prod", "snap2prod-control-plane", "img", False, gpu=gpu.as_record(two))
    again = cluster.Record(**json.loads(json.dumps(record.__dict__)))  # as read_record reads it back
    assert gpu.from_record(again.gpu) == two
    assert gpu.mismatch("snap2prod", gpu.from_record(again.gpu), gpu.shape(2)) is None
    assert gpu.mismatch("snap2prod", None, None) is None
    assert gpu.mismatch("snap2prod", two, three) == (
        "cluster snap2prod exists with 2 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 2), not 3 × NVIDIA-A100-SXM4-80GB "
        "(nvidia.com/gpu: 3); `snap2prod kind down` first, or use --name"
    )
    assert gpu.mismatch("other", None, two) == (
        "cluster other exists with no GPUs, not 2 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 2); "
        "`snap2prod kind down --name other` first, or use --name"
    )
    old = cluster.Record(**{"name": "a", "node_container": "a-control-plane", "image": "i", "made_network": True})
    assert old.gpu is None and cluster.node_containers(old) == ["a-control-plane"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, "NVIDIA-A100-SXM4-80GB", "1g.10gb"), "--mig 1g.10gb needs GPUs to partition: give --gpus a value above 0"),
        ((2, "NVIDIA-L4", "1g.10gb"), "unknown MIG profile '1g.10gb' for NVIDIA-L4; it offers: none"),
        ((2, "NVIDIA-A100-SXM4-40GB", "1g.20gb"), "unknown MIG profile '1g.20gb' for NVIDIA-A100-SXM4-40GB"),
        ((17, "NVIDIA-L4", None), "--gpus must be between 0 and 16, got 17"),
        ((-1, "NVIDIA-L4", None), "--gpus must be between 0 and 16, got -1"),
        ((1, "NVIDIA-B200", None), "unknown --gpu-product 'NVIDIA-B200': give --gpu-memory-mib too"),
    ],
)
def test_bad_flags_are_refused_with_the_flag_named(args: tuple[int, str, str | None], message: str) -> None:
    with pytest.raises(SimError) as err:
        gpu.shape(*args)
    assert str(err.value).startswith(message)


def test_the_sim_names_its_own_flags() -> None:
    with pytest.raises(SimError) as err:
        SimSpec(gpus_per_node=17).validate()
    assert str(err.value) == "--gpus-per-node must be between 0 and 16, got 17"
    with pytest.raises(SimError) as err:
        SimSpec(gpu_nodes=0, mig="1g.10gb").validate()
    assert str(err.value) == "--mig 1g.10gb needs GPUs to partition: give --gpu-nodes a value above 0"


def test_each_node_gets_its_pod_subnet_and_routes_to_the_others() -> None:
    def node(name: str, ip: str, cidr: str) -> dict[str, object]:
        return {
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]},
        }

    plan = cluster.pod_network([node("c", "10.89.0.2", "10.244.0.0/24"), node("w", "10.89.0.3", "10.244.1.0/24")])
    assert plan == {
        "c": ("10.244.0.0/24", [("10.244.1.0/24", "10.89.0.3")]),
        "w": ("10.244.1.0/24", [("10.244.0.0/24", "10.89.0.2")]),
    }
    conf = json.loads(node_files.cni_conflist("10.244.1.0/24"))
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    assert node_files.cni_conflist() == node_files.cni_conflist(node_files.POD_SUBNET)  # the node image is unchanged
    with pytest.raises(cluster.KindError, match="node w has no address or pod subnet yet"):
        cluster.pod_network([node("w", "10.89.0.3", "")])
