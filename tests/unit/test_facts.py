"""Facts that live in two languages (Python and the chart's YAML) must agree: each test names the source and fails
when the other copy drifts from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app import catalog
from app.settings import DEFAULT_OLLAMA_HOST
from bench import kind as kind_bench
from scripts import paths, toolchain
from scripts.demo import ollama_server, stack
from scripts.kind import cluster
from scripts.promote import preflight

CHART_VALUES = yaml.safe_load((paths.CHART / "values.yaml").read_text())
LOCAL_VALUES = yaml.safe_load((paths.STACKS / "local" / "values.yaml").read_text())
REHEARSAL_VALUES = yaml.safe_load((paths.STACKS / "prod" / "values-rehearsal.yaml").read_text())
KIND_CONFIG = yaml.safe_load(cluster.KIND_CONFIG.read_text())


def test_the_charts_ollama_tag_is_the_pinned_ollama() -> None:
    """Source: scripts/toolchain/pins.py OLLAMA_VERSION (the laptop's build); the cluster runs the same version."""
    assert CHART_VALUES["ollama"]["image"]["tag"] == toolchain.OLLAMA_VERSION


def test_the_charts_kube_version_is_what_preflight_requires() -> None:
    """Source: Chart.yaml's kubeVersion (Helm refuses other clusters); preflight says the same before Helm runs."""
    chart = yaml.safe_load((paths.CHART / "Chart.yaml").read_text())
    major, minor = preflight.MIN_VERSION
    assert chart["kubeVersion"] == f">={major}.{minor}.0-0"


def test_ollamas_port_is_one_number_everywhere() -> None:
    """Source: Ollama's own default, 11434."""
    assert CHART_VALUES["ollama"]["service"]["port"] == 11434
    assert ollama_server.DEFAULT_PORT == 11434
    assert DEFAULT_OLLAMA_HOST == "http://127.0.0.1:11434"


def test_the_pages_port_is_one_number_everywhere() -> None:
    """Source: Streamlit's default, 8501: the laptop's page, the chart's Service, and KIND's host port."""
    assert stack.DEFAULT_PORT == 8501
    assert CHART_VALUES["app"]["service"]["port"] == 8501
    mappings = KIND_CONFIG["nodes"][0]["extraPortMappings"]
    assert {m["containerPort"]: m["hostPort"] for m in mappings}[LOCAL_VALUES["app"]["service"]["nodePort"]] == 8501


def test_the_node_port_kind_maps_is_the_one_the_kind_values_use() -> None:
    """Source: stacks/local/values.yaml app.service.nodePort; kind.yaml maps it, the rehearsal and P6 use it."""
    node_port = LOCAL_VALUES["app"]["service"]["nodePort"]
    assert node_port in {m["containerPort"] for m in KIND_CONFIG["nodes"][0]["extraPortMappings"]}
    assert REHEARSAL_VALUES["app"]["service"]["nodePort"] == node_port
    assert node_port == kind_bench.APP_NODE_PORT


def test_up_down_and_status_default_to_the_cluster_kind_yaml_names(tmp_path: Path) -> None:
    """Source: stacks/local/kind.yaml's name; another config's name is read from that config."""
    assert cluster.default_name() == KIND_CONFIG["name"] == "snap2prod"
    other = tmp_path / "kind.yaml"
    other.write_text(yaml.safe_dump({**KIND_CONFIG, "name": "elsewhere"}))
    assert cluster.default_name(other) == "elsewhere"


@pytest.mark.parametrize("value", [None, ""])
def test_the_cache_is_one_folder_for_the_tools_and_the_apps_modelfiles(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source: scripts/paths.py cache_dir; an unset or empty SNAP2PROD_CACHE means ~/.cache/snap2prod for both."""
    if value is None:
        monkeypatch.delenv("SNAP2PROD_CACHE", raising=False)
    else:
        monkeypatch.setenv("SNAP2PROD_CACHE", value)
    expected = Path.home() / ".cache" / "snap2prod"
    assert paths.cache_dir() == expected == toolchain.cache_dir()
    assert catalog.default_variables()["SNAP2PROD_CACHE"] == str(expected)
