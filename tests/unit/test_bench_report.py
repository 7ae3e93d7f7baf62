"""The benchmark rules that keep figures honest, and the README's table made from bench/report.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import MODULES
from bench.report import (
    README,
    README_END,
    README_START,
    REPORT_DIR,
    BenchResult,
    Spread,
    alternating_pairs,
    paired_ratio,
    read_results,
    readme_section,
    readme_with_section,
    results_from_markdown,
    write,
)


def test_the_readme_table_is_the_one_made_from_the_committed_report() -> None:
    readme = README.read_text()
    assert readme.count(README_START) == 1 and readme.count(README_END) == 1
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    assert readme[start:end] == readme_section((REPORT_DIR / "report.md").read_text()), (
        "README's benchmark table differs from bench/report.md: run `make bench` (it rewrites both)"
    )


def test_every_target_of_the_report_is_in_the_readme_with_its_verdict() -> None:
    section = readme_section((REPORT_DIR / "report.md").read_text())
    rows = [line for line in section.splitlines() if line.startswith("| P")]
    assert [row.split(" | ")[0] for row in rows] == [f"| {pid}" for pid in MODULES]  # every benchmark, in order
    assert all(row.endswith(("| yes |", "| **no** |")) for row in rows)
    assert all(row.split(" | ")[3].strip() for row in rows), "each row carries the measured summary"


def test_the_readme_section_follows_a_new_report(tmp_path: Path) -> None:
    results = [
        BenchResult("P1", "one", "≤ 1.1 × fair", True, {"runs": 11, "ratio": 0.98}, "n", "0.98 ×"),
        BenchResult("P2", "two", "≤ 1.02 × raw", False, {"runs": 11, "ratio": 1.04}, "n", "TTFT 1.04 ×"),
    ]
    report = write(results, tmp_path, note="busy machine")
    old = f"intro\n{README_START}\nstale figures\n{README_END}\noutro\n"
    new = readme_with_section(old, report.read_text())
    assert new.startswith("intro\n") and new.endswith("\noutro\n") and "stale" not in new
    assert "| P1 | one | ≤ 1.1 × fair | 0.98 × | yes |" in new
    assert "| P2 | two | ≤ 1.02 × raw | TTFT 1.04 × | **no** |" in new
    assert "busy machine" in report.read_text()


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no benchmark section"):
        readme_with_section("no markers here", "")


def test_pairs_alternate_their_order() -> None:
    calls: list[str] = []
    ours, raws = alternating_pairs(lambda: calls.append("ours") or 2.0, lambda: calls.append("raw") or 1.0, 4)
    assert calls == ["ours", "raw", "raw", "ours", "ours", "raw", "raw", "ours"]
    assert paired_ratio(ours, raws) == Spread(2.0, 2.0, 2.0)


def test_a_spread_is_the_median_and_quartiles() -> None:
    spread = Spread.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (spread.median, spread.q1, spread.q3) == (3.0, 2.0, 4.0)
    assert spread.iqr == 2.0
    assert spread.text("ms") == "3 (IQR 2–4) ms"


def test_a_partial_rerun_keeps_the_other_results_and_says_when_each_was_measured(tmp_path: Path) -> None:
    kept = BenchResult("P1", "one", "≤ 1", True, {"runs": 11}, "kept notes", "s1", measured="2026-12-01 10:00 UTC")
    new = BenchResult("P3", "three", "≤ 3", False, {"runs": 15}, "new notes", "s3", measured="2026-12-01 11:00 UTC")
    write([kept], tmp_path)
    write([*read_results(tmp_path), new], tmp_path)
    assert read_results(tmp_path) == [kept, new]
    report = (tmp_path / "report.md").read_text()
    assert "- **P1** (measured 2026-12-01 10:00 UTC): kept notes" in report
    assert "- **P3** (measured 2026-12-01 11:00 UTC): new notes" in report


def test_without_this_machines_json_the_results_are_read_back_from_the_report(tmp_path: Path) -> None:
    """`make bench ONLY=P7` on a fresh machine keeps the other benchmarks' figures as report.md states them."""
    results = [
        BenchResult("P1", "one", "≤ 1.1 × fair", True, {"runs": 41, "ratio": 1.02, "same": "yes"}, "n1", "s1", "t1"),
        BenchResult("P5", "five", "≥ 0.85 ×", False, {"runs": 11, "flags": "-DA=ON, -DB=ON"}, "n5", "s5", "t5"),
    ]
    write(results, tmp_path)
    (tmp_path / "report.json").unlink()
    assert read_results(tmp_path) == results


def test_the_committed_report_reads_back_with_every_benchmark_it_states() -> None:
    report = (REPORT_DIR / "report.md").read_text()
    read = results_from_markdown(report)
    assert [f"| {r.id} |" for r in read] == [line[:6] for line in report.splitlines() if line.startswith("| P")]
    assert all(r.summary and r.figures["runs"] for r in read)
