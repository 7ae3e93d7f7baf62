"""What snap2prod adds to kind's own files and to the user's kind config (read from kind's module source)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from scripts.kind import cluster, node_files, nodeimage


@pytest.fixture(scope="module")
def kind_source() -> Path:
    return nodeimage.kind_source()


def test_containerd_gets_our_pause_image_the_oom_restriction_and_the_mirrors_dir(kind_source: Path) -> None:
    base = (kind_source / "images/base/files/etc/containerd/config.toml").read_text()
    config = tomllib.loads(node_files.containerd_config(base, "registry.k8s.io/pause:3.10.2"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.2"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["registry"]["config_path"] == node_files.CERTS_D
    assert "proxy_plugins" not in config


def test_the_storage_manifest_is_kinds_own_with_our_images(kind_source: Path) -> None:
    text = node_files.storage_manifest(kind_source / "pkg/build/nodeimage/const_storage.go", "P:1", "H:2")
    assert "image: P:1" in text and "- H:2" in text
    assert "kind: StorageClass" in text and "storageclass.kubernetes.io/is-default-class" in text


def test_the_cni_is_one_bridge_on_the_first_pod_subnet() -> None:
    conf = json.loads(node_files.cni_conflist())
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "portmap"]
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]


def test_kind_creates_kube_router_firewall_only_on_every_node_with_read_only_rights() -> None:
    docs = list(yaml.safe_load_all(node_files.cni_manifest("localhost/kr:v1")))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"]
    assert {verb for rule in docs[1]["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
    pod = docs[3]["spec"]["template"]["spec"]
    (router,) = pod["containers"]
    assert router["image"] == "localhost/kr:v1"
    assert "--run-firewall=true" in router["args"] and "--run-router=false" in router["args"]
    assert "--run-service-proxy=false" in router["args"]
    assert pod["tolerations"] == [{"operator": "Exists"}]  # the GPU worker's taint too
    assert "bridge-nf-call-iptables" in pod["initContainers"][0]["command"][-1]


def test_the_derived_kind_config_keeps_the_users_and_adds_what_these_machines_need() -> None:
    base = cluster.load_config()
    derived = cluster.derived_config(base)
    assert derived["nodes"] == base["nodes"]
    assert derived["networking"]["ipFamily"] == "ipv4"
    assert any("failCgroupV1: false" in p for p in derived["kubeadmConfigPatches"])
    assert any(f"imageTag: {nodeimage.ETCD_TAG}" in p for p in derived["kubeadmConfigPatches"])
    assert any(node_files.CERTS_D in p for p in derived["containerdConfigPatches"])
    assert "networking" not in base or "ipFamily" not in base["networking"]  # the user's dict is not changed
