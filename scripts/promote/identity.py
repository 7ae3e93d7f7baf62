"""Which cluster a production context reaches: the UID of its `kube-system` namespace, recorded on first use.

A kubeconfig edited by hand, a context name reused for a new cluster, or a VPN that routes the same address to
another cluster would make `promote --to prod` change a cluster nobody meant. The namespace's UID is made when the
cluster is made and never changes, so the first promotion through a context records it (in the file
``known_clusters()``, outside any cache) and every later one compares: another UID behind the same name is refused,
naming both, before anything changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scripts.kube import KubeClient
from scripts.paths import config_dir
from scripts.promote.errors import TargetRefused


def known_clusters() -> Path:
    """The record: ``clusters.json`` in snap2prod's config folder (not a cache: clearing one must not forget which
    cluster production is)."""
    return config_dir() / "clusters.json"


def cluster_uid(api: KubeClient) -> str:
    """The UID of the cluster's `kube-system` namespace (made with the cluster; never changes)."""
    from kubernetes import client

    meta = client.CoreV1Api(api).read_namespace("kube-system", _request_timeout=10).metadata
    if meta is None or not meta.uid:
        raise LookupError("the kube-system namespace has no UID")
    return str(meta.uid)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise TargetRefused(
            f"{path} (the clusters production contexts reached before) is not JSON ({err}); fix or remove it"
        ) from None
    return data if isinstance(data, dict) else {}


def check(api: KubeClient, context: str) -> str:
    """Record the cluster behind ``context`` on first use, or refuse (TargetRefused) when it is another one now.
    Returns the line the report keeps."""
    path = known_clusters()
    server = api.configuration.host
    try:
        uid = cluster_uid(api)
    except Exception as err:  # unreachable, credentials refused, RBAC
        raise TargetRefused(
            f"cannot tell which cluster context {context!r} reaches ({server}): reading the kube-system namespace "
            f"failed: {err}"
        ) from None
    known = _read(path)
    seen = known.get(context)
    if seen is None:
        known[context] = {"uid": uid, "server": server, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return f"kube-system UID {uid} ({server}): first use of context {context}, recorded in {path}"
    if seen.get("uid") != uid:
        raise TargetRefused(
            f"context {context!r} now reaches another cluster: kube-system UID {uid} at {server}, but it reached "
            f"kube-system UID {seen.get('uid')} at {seen.get('server')} when first used ({seen.get('recorded')}). "
            "Nothing was changed. Check the kubeconfig; if that cluster was replaced on purpose, remove the "
            f"context's entry from {path} and promote again."
        )
    return f"kube-system UID {uid}: the cluster context {context} reached when first used ({seen.get('recorded')})"
