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


CNI_MANIFEST = """\
# kind applies this file at create time; the network is the static CNI config in /etc/cni/net.d.
apiVersion: v1
kind: ConfigMap
metadata:
  name: snap2prod-cni
  namespace: kube-system
data:
  cni: "bridge + host-local, /etc/cni/net.d/10-snap2prod.conflist (one node, no kindnetd)"
"""


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
