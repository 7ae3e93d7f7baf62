"""The files an offline KIND node image carries beyond kind's own base files: containerd's config, the CNI,
and the manifests kind applies at create time (kind reads them from /kind/manifests in the node)."""

from __future__ import annotations

import json
import re
from pathlib import Path

POD_SUBNET = "10.244.0.0/24"
"""kind's default pod subnet is 10.244.0.0/16; one node gets the first /24 (its podCIDR)."""
CERTS_D = "/etc/containerd/certs.d"


def containerd_config(kind_config: str, pause_image: str) -> str:
    """kind's containerd config with our pause image, OOM-score restriction and registry mirrors dir.

    ``restrict_oom_score_adj``: these VMs lack CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj and kubeadm
    times out with "can't get final child's PID from pipe: EOF". The fuse-overlayfs proxy is dropped (no
    rootless here, and its socket would not exist).
    """
    text = re.sub(r'\[proxy_plugins\]\n(#.*\n)?\[proxy_plugins\."fuse-overlayfs"\]\n(  .*\n)+', "", kind_config)
    text = re.sub(r'sandbox_image = ".*"', f'sandbox_image = "{pause_image}"', text)
    text = text.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")
    if "restrict_oom_score_adj = true" not in text or pause_image not in text:
        raise ValueError("kind's containerd config changed shape: sandbox_image or restrict_oom_score_adj not found")
    return text + f'\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_D}"\n'


CNI_CONFLIST = "10-snap2prod.conflist"


def cni_conflist(subnet: str = POD_SUBNET) -> str:
    """One node needs no kindnetd: a bridge with host-local addresses and port mapping (Debian's plugins). A second
    node (`kind up --gpus`) gets its own subnet and routes from cluster.py."""
    bridge = {
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": True,
        "ipMasq": True,
        "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]},
    }
    portmap = {"type": "portmap", "capabilities": {"portMappings": True}}
    return json.dumps({"cniVersion": "1.0.0", "name": "snap2prod", "plugins": [bridge, portmap]}, indent=2) + "\n"


NETWORK_POLICY_DAEMONSET = "kube-router"
"""In kube-system: enforces networking.k8s.io/v1 NetworkPolicies with iptables and ipsets (firewall only).

kindnetd, standard KIND's CNI, enforces them through nftables' `queue` to user space; these VMs' kernels lack
nft_queue, so the policies are kube-router's job here. The bridge CNI stays: br_netfilter's
bridge-nf-call-iptables makes same-node pod traffic pass the FORWARD chain kube-router filters."""


def cni_manifest(kube_router_image: str) -> str:
    """What kind applies at create time (`kubectl create` from /kind/manifests/default-cni.yaml): the pod network
    is the static CNI config; NetworkPolicies are enforced by kube-router."""
    name = NETWORK_POLICY_DAEMONSET
    labels = {"k8s-app": name}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "kube-system"}}
    read = ["get", "list", "watch"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}],
    }
    privileged = {"privileged": True}
    bridge_netfilter = {
        "name": "bridge-netfilter",
        "image": kube_router_image,
        "command": ["sh", "-c", "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables"],
        "securityContext": privileged,
    }
    router = {
        "name": name,
        "image": kube_router_image,
        "command": ["/usr/local/bin/kube-router"],
        "args": ["--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--metrics-port=0"],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": privileged,
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": 20244},
            "initialDelaySeconds": 10,
            "periodSeconds": 5,
        },
        "volumeMounts": [
            {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
            {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        ],
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": name,
                    "priorityClassName": "system-node-critical",
                    "hostNetwork": True,
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [bridge_netfilter],
                    "containers": [router],
                    "volumes": [
                        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                    ],
                },
            },
        },
    }
    header = f"# kind applies this file at create time; the network is the static CNI config {CNI_CONFLIST}.\n"
    return header + "---\n".join(json.dumps(doc) + "\n" for doc in (account, role, binding, daemonset))


def storage_manifest(kind_const_storage: Path, provisioner: str, helper: str) -> str:
    """kind's own local-path-provisioner manifest (pkg/build/nodeimage/const_storage.go) with our images."""
    source = kind_const_storage.read_text()
    match = re.search(r"const defaultStorageManifest = `(.*)`\s*$", source, flags=re.S)
    if not match:
        raise ValueError(f"no defaultStorageManifest in {kind_const_storage}")
    body = match.group(1)
    body = body.replace("` + storageProvisionerImage + `", provisioner).replace("` + storageHelperImage + `", helper)
    if "`" in body:
        raise ValueError(f"unexpected Go expression left in kind's storage manifest ({kind_const_storage})")
    return body
