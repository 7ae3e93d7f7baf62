"""Where the repository's parts are, written once: every module that reads the chart or the stacks asks here."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
CHART = STACKS / "chart"
CHART_FILES = CHART / "files"
ALERTS = CHART_FILES / "alerts.yaml"
"""The alert rules (a PrometheusRule): the chart ships them, Prometheus tests load them, promote derives its
watch queries from them. The one copy in the repository."""
DASHBOARD = CHART_FILES / "dashboard.json"
"""The Grafana dashboard: the chart ships it as a ConfigMap; the one copy in the repository."""
SCHEMA = CHART / "values.schema.json"
CHART_IMAGES = ("app", "ollama", "apiGate")
"""The chart's images (``<name>.image`` in its values), each pinned by digest: what parity and preflight check and
the names `snap2prod images build` records and pushes."""


def cache_dir() -> Path:
    """The cache root, shared by every clone on the machine (CI reuses it); an empty ``SNAP2PROD_CACHE`` means
    the default, as it does for the app's Modelfile variables."""
    return Path(os.environ.get("SNAP2PROD_CACHE") or Path.home() / ".cache" / "snap2prod")


def config_dir() -> Path:
    """What snap2prod keeps that is no cache (clearing a cache must not lose it): the signing key pair and the
    clusters production contexts reached. ``SNAP2PROD_CONFIG``, else ``$XDG_CONFIG_HOME/snap2prod``, else
    ``~/.config/snap2prod``."""
    if folder := os.environ.get("SNAP2PROD_CONFIG"):
        return Path(folder)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "snap2prod"


KUBE_CACHE_ENV = ("KUBECACHEDIR", "HELM_CACHE_HOME")
"""The variables that move kubectl's and Helm's discovery/HTTP caches (default ``~/.kube/cache`` and
``~/.cache/helm``); both honour them, and every kubectl and Helm we start inherits them from this process."""


def keep_kube_caches_in_our_cache() -> None:
    """Point every kubectl and Helm this process starts at the snap2prod cache: ``~/.kube`` is never written.

    Set once, on import of the ``scripts`` package, so no call site can forget it (CLI, promote, sim, kind, bench
    and tests all import it). A value already set by the person is overridden: the README promises ``~/.kube``
    stays as it was."""
    root = cache_dir()
    os.environ["KUBECACHEDIR"] = str(root / "kube-cache")
    os.environ["HELM_CACHE_HOME"] = str(root / "helm-cache")
