"""`make test`'s per-stage summary and the README's suite figures, made from bench/suite.json alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import suite

STAGES = "venv 2\nlint 30\ntoolchain 4\ntests/integration 500\ntests/unit 40\ncount passed 1130\ncount skipped 3\n"


def test_stage_lines_and_counts_are_read_in_the_order_they_ran() -> None:
    run = suite.parse_stages(STAGES)
    assert list(run["stages"].items()) == [
        ("venv", 2),
        ("lint", 30),
        ("toolchain", 4),
        ("tests/integration", 500),
        ("tests/unit", 40),
    ]
    assert run["counts"] == {"passed": 1130, "skipped": 3}


def test_the_summary_is_printed_and_kept_outside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path / "cache"))
    stages = tmp_path / "stages"
    stages.write_text(STAGES)
    suite.summary(stages, 0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "== time per stage (s)"
    assert out[-2].split() == ["total", "576"]  # 2 + 30 + 4 + 500 + 40
    assert out[-1] == "  tests: 1130 passed, 3 skipped"
    kept = json.loads((tmp_path / "cache" / "suite" / "last-run.json").read_text())
    assert kept["stages"]["tests/integration"] == 500 and kept["exit"] == 0


def test_the_readme_section_has_a_column_per_recorded_run() -> None:
    records = {
        "warm": {"stages": {"lint": 30, "tests/unit": 40}, "counts": {"passed": 9}, "finished": "d1", "commit": "a"},
        "cold": {"stages": {"lint": 60, "toolchain": 900}, "counts": {"passed": 9}, "finished": "d2", "commit": "b"},
    }
    lines = suite.readme_section(records).splitlines()
    assert lines[1] == "| stage (s) | warm (d1, a) | cold (d2, b) |"
    assert "| lint | 30 | 60 |" in lines
    assert "| toolchain |  | 900 |" in lines
    assert "| **total** | **70** | **960** |" in lines


def test_the_readme_quotes_the_recorded_runs_as_generated() -> None:
    readme = suite.README.read_text()
    assert suite.readme_with_section(readme, suite.read_records()) == readme


BUILT = "venv 2\nbuild ollama 473\nbuild base python 181\nbuild kind node image 95\ntoolchain 600\ncount passed 3\n"


def test_cold_builds_are_kept_apart_from_the_stages_they_ran_in() -> None:
    run = suite.parse_stages(BUILT)
    assert run["stages"] == {"venv": 2, "toolchain": 600}  # a build is inside a stage, never added to the total
    assert run["builds"] == {"ollama": 473, "base python": 181, "kind node image": 95}


def test_test_time_per_directory_is_apart_from_the_wall_time_of_the_tests() -> None:
    run = suite.parse_stages("toolchain 5\ntests 900\ndir tests/integration 1500\ndir tests/unit 9\n")
    assert run["stages"] == {"toolchain": 5, "tests": 900}  # two workers: 1509 s of tests in 900 s of wall time
    assert run["directories"] == {"tests/integration": 1500, "tests/unit": 9}


def test_the_builds_a_make_test_output_reports_are_read_from_its_own_lines() -> None:
    output = (
        "[1/20] ollama 0.32.15\n"
        "  ollama 0.32.15 ready in 473s -> /root/.cache/snap2prod/tools/ollama-0.32.15-x86-64-v3-888807b8\n"
        "  base python: 151 MB in 181 s\n"
        "  image app: localhost/snap2prod/app:abc 0123456789ab in 60 s\n"
        "kind node image: localhost/snap2prod/node:v1.36.3-abc built in 95 s\n"
        "  ollama: [#####      ]   120s (cold build ~12 min)\n"
    )
    assert suite.builds_in_log(output) == {"ollama": 473, "base python": 181, "image app": 60, "kind node image": 95}


def test_the_readme_lists_each_runs_cold_builds_in_a_table_of_their_own() -> None:
    records = {
        "cold": {"stages": {"toolchain": 900}, "counts": {}, "finished": "d", "commit": "c", "builds": {"helm": 111}},
        "warm": {"stages": {"toolchain": 4}, "counts": {}, "finished": "e", "commit": "f"},
    }
    lines = suite.readme_section(records).splitlines()
    assert "| built cold during the run (s) | cold | warm |" in lines
    assert "| helm | 111 |  |" in lines
