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
