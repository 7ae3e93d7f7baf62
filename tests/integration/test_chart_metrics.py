"""The chart's metrics wiring: the app Service's metrics port, scrape annotations, the optional ServiceMonitor,
PrometheusRule and Grafana dashboard ConfigMap, and the NetworkPolicy for Prometheus.

The dashboard and the alert rules the chart ships (stacks/chart/files/) are the ones
tests/integration/test_metrics.py checks against a real Prometheus: the chart's files are the only copies (Helm's
`.Files` cannot reach outside the chart, so everything else reads them there). The API server's strict
validation of these objects with the Prometheus Operator's CRDs is in test_chart_sim.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.paths import ALERTS, DASHBOARD
from tests.fixtures.chart.helm import CHART, ROOT, find, lock_values, one, render_error, template

ALL_ON = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.grafanaDashboard.enabled=true",
)
MONITORING = ("ServiceMonitor", "PrometheusRule")


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lock_values(tmp_path_factory.mktemp("lock") / "lock-values.yaml")


@pytest.fixture(scope="module")
def all_on(lock_file: Path) -> list[dict[str, Any]]:
    return template("prod", lock_file, sets=ALL_ON)


def dashboards(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in find(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]]


def app_pod_annotations(docs: list[dict[str, Any]]) -> dict[str, str]:
    return dict(one(docs, "Deployment", "app")["spec"]["template"]["metadata"].get("annotations", {}))


@pytest.mark.parametrize("name", ["dashboard.json", "alerts.yaml"])
def test_the_chart_ships_the_same_dashboard_and_alerts_that_test_metrics_checks(name: str) -> None:
    assert (CHART / "files" / name) in (ALERTS, DASHBOARD)  # the very files test_metrics.py loads
    tops = [d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".")]
    copies = [p for top in tops for p in top.rglob(name)]
    assert copies == [CHART / "files" / name], (
        f"{name} exists outside stacks/chart/files/: read the chart's copy instead of keeping another"
    )


@pytest.mark.parametrize("env", ["local", "prod"])
def test_by_default_only_the_port_and_scrape_annotations_are_rendered(env: str, lock_file: Path) -> None:
    docs = template(env, lock_file)
    assert [d["kind"] for d in docs if d["kind"] in MONITORING] == []
    assert dashboards(docs) == []
    ports = {p["name"]: p for p in one(docs, "Service", "app")["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9464
    assert ports["metrics"]["targetPort"] == "metrics"
    container_ports = {
        p["name"]: p["containerPort"]
        for p in one(docs, "Deployment", "app")["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert container_ports["metrics"] == 9464
    annotations = app_pod_annotations(docs)
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9464"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_scrape_annotations_can_be_turned_off(lock_file: Path) -> None:
    docs = template("prod", lock_file, sets=["metrics.scrapeAnnotations=false"])
    assert not any(k.startswith("prometheus.io/") for k in app_pod_annotations(docs))


def test_without_a_metrics_port_nothing_points_at_one(lock_file: Path) -> None:
    docs = template("prod", lock_file, sets=[*ALL_ON, "app.settings.metricsPort=0"])
    assert [d["kind"] for d in docs if d["kind"] in MONITORING] == []
    assert dashboards(docs) == []
    assert [p["name"] for p in one(docs, "Service", "app")["spec"]["ports"]] == ["http"]
    assert not any(k.startswith("prometheus.io/") for k in app_pod_annotations(docs))


def test_the_service_monitor_scrapes_the_app_services_metrics_port(all_on: list[dict[str, Any]]) -> None:
    monitor = one(all_on, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = one(all_on, "Service", "app")
    labels = service["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    ollama_labels = one(all_on, "Service", "ollama")["metadata"]["labels"]
    assert not all(ollama_labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


def test_the_service_monitor_and_rule_carry_the_labels_prometheus_selects(lock_file: Path) -> None:
    docs = template(
        "prod",
        lock_file,
        sets=[*ALL_ON, "metrics.serviceMonitor.labels.release=kps", "metrics.prometheusRule.labels.release=kps"],
    )
    assert one(docs, "ServiceMonitor")["metadata"]["labels"]["release"] == "kps"
    assert one(docs, "PrometheusRule")["metadata"]["labels"]["release"] == "kps"


def test_the_prometheus_rule_holds_the_tested_alert_rules(all_on: list[dict[str, Any]]) -> None:
    rule = one(all_on, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())["spec"]
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts == [
        "Snap2ProdOllamaUnreachable",
        "Snap2ProdHighErrorRate",
        "Snap2ProdSlowAnswers",
        "Snap2ProdModelOutsideLock",
    ]


def test_the_dashboard_configmap_holds_the_tested_dashboard_for_grafanas_sidecar(
    all_on: list[dict[str, Any]],
) -> None:
    (configmap,) = dashboards(all_on)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = configmap["data"].values()
    assert json.loads(content) == json.loads(DASHBOARD.read_text())


def test_the_network_policy_admits_scrapes_from_the_configured_namespace(lock_file: Path) -> None:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    docs = template(
        "prod",
        lock_file,
        sets=["networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring"],
    )
    rules = one(docs, "NetworkPolicy", "app")["spec"]["ingress"]
    (metrics_rule,) = [r for r in rules if r["ports"] == [{"port": "metrics", "protocol": "TCP"}]]
    assert metrics_rule["from"] == [peer]
    (default_rule,) = [
        r
        for r in one(template("prod", lock_file), "NetworkPolicy", "app")["spec"]["ingress"]
        if r["ports"][0]["port"] == "metrics"
    ]
    assert "from" not in default_rule  # anyone in the cluster


def test_the_schema_rejects_a_bad_scrape_interval() -> None:
    message = render_error("", sets=["metrics.serviceMonitor.interval=30 seconds"])
    assert "at '/metrics/serviceMonitor/interval'" in message
    assert "does not match pattern" in message
