"""The app Dockerfile's rules, read without building it: fast, and before any container engine is installed.

The image itself is built for real with podman by tests/integration/test_images.py and run on KIND by
tests/integration/test_kind.py; here the Dockerfile is parsed by a real parser, and the install layout its CMD
relies on is checked against a wheel built from this repository.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stages() -> list[list[dict[str, str]]]:
    parser = DockerfileParser(path=str(ROOT / "app" / "Dockerfile"))
    result: list[list[dict[str, str]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def _values(stage: list[dict[str, str]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def test_it_is_multi_stage_and_the_final_stage_copies_only_the_built_venv(stages: list[list[dict[str, str]]]) -> None:
    assert len(stages) == 2
    final = stages[-1]
    assert any(v.startswith("--from=build /opt/snap2prod") for v in _values(final, "COPY"))
    assert not any("pip install" in v or "apt-get" in v or "gcc" in v for v in _values(final, "RUN"))


def test_the_final_stage_runs_as_a_numeric_non_root_user(stages: list[list[dict[str, str]]]) -> None:
    users = _values(stages[-1], "USER")
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"


def test_healthcheck_probes_streamlits_health_endpoint(stages: list[list[dict[str, str]]]) -> None:
    (check,) = _values(stages[-1], "HEALTHCHECK")
    assert "/_stcore/health" in check and "8501" in check


def test_the_cmd_module_and_the_page_are_in_the_installed_package(
    stages: list[list[dict[str, str]]], tmp_path: Path
) -> None:
    (cmd,) = _values(stages[-1], "CMD")
    assert '"-m", "app.serve"' in cmd
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("snap2prod-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/serve.py" in names and "app/streamlit_app.py" in names


def test_the_catalog_it_copies_exists() -> None:
    assert (ROOT / "models" / "catalog.yaml").is_file()
