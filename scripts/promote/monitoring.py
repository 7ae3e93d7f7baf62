"""What to watch after a promotion: where the metrics are, how Prometheus finds them, the key queries, the alerts.

The queries are the alert rules' own expressions (stacks/chart/files/alerts.yaml, the one copy) without their
thresholds, so a changed alert changes what the report says to watch.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from scripts.paths import ALERTS

WATCH_NAMES = {
    "Snap2ProdHighErrorRate": "error rate",
    "Snap2ProdSlowAnswers": "p95 latency",
    "Snap2ProdOllamaUnreachable": "ollama up",
    "Snap2ProdModelOutsideLock": "models outside the lock",
}
"""How the report names each alert's query; an alert not named here is shown under its own name."""
WATCH_ORDER = ("error rate", "p95 latency", "ollama up", "models outside the lock")

_THRESHOLD = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*$")


def without_threshold(expr: str) -> str:
    """``(a / b) > 0.05`` -> ``a / b``: the alert's expression on one line, its comparison and outer brackets gone."""
    query = " ".join(_THRESHOLD.sub("", " ".join(expr.split())).split())
    while query.startswith("( ") and query.endswith(" )") and _balanced(query[2:-2]):
        query = query[2:-2]
    return query


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def alert_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerting rules of a PrometheusRule's ``spec``, in file order."""
    return [r for g in spec["groups"] for r in g.get("rules", []) if "alert" in r]


def queries(spec: dict[str, Any]) -> dict[str, str]:
    """The watch queries, derived from the alert expressions."""
    found = {WATCH_NAMES.get(r["alert"], r["alert"]): without_threshold(str(r["expr"])) for r in alert_rules(spec)}
    rank = {name: i for i, name in enumerate(WATCH_ORDER)}
    return dict(sorted(found.items(), key=lambda item: rank.get(item[0], len(rank))))


def watch(docs: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    """Where the promoted app's metrics are, how Prometheus finds them, the key queries and the alert names."""

    def component(d: dict[str, Any]) -> str:
        return str(d["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))

    services = [d for d in docs if d["kind"] == "Service" and component(d) == "app"]
    if not any(p.get("name") == "metrics" for s in services for p in s["spec"].get("ports", [])):
        return {"metrics": "off (app.settings.metricsPort is 0)"}
    service = services[0]["metadata"]["name"]
    monitors = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceMonitor"]
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    pods = [d["spec"]["template"]["metadata"] for d in docs if d["kind"] == "Deployment" and component(d) == "app"]
    annotated = any(m.get("annotations", {}).get("prometheus.io/scrape") == "true" for m in pods)
    if monitors:
        scrape = f"ServiceMonitor {monitors[0]}"
    elif annotated:
        scrape = "prometheus.io/* annotations on the app pods"
    else:
        scrape = "nothing tells Prometheus (metrics.serviceMonitor.enabled or metrics.scrapeAnnotations)"
    spec = rules[0]["spec"] if rules else yaml.safe_load(ALERTS.read_text())["spec"]
    installed = f"PrometheusRule {rules[0]['metadata']['name']}" if rules else ""
    return {
        "metrics_url": f"/api/v1/namespaces/{namespace}/services/{service}:metrics/proxy/metrics",
        "scrape": scrape,
        "queries": queries(spec),
        "alerts": [r["alert"] for r in alert_rules(spec)],
        "alert_rules": installed
        or "not installed (metrics.prometheusRule.enabled, or load stacks/chart/files/alerts.yaml)",
    }
