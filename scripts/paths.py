"""Where the repository's parts are, written once: every module that reads the chart or the stacks asks here."""

from __future__ import annotations

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
