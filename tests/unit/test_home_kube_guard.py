"""The run's guard on ~/.kube (tests/conftest.py) sees a created, a changed and a removed file, and a new folder."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import home_kube_changes, home_kube_files


def test_a_home_without_kube_reads_as_empty_and_a_new_cache_file_is_created(tmp_path: Path) -> None:
    before = home_kube_files(tmp_path)
    assert before == {}
    (tmp_path / ".kube" / "cache" / "discovery").mkdir(parents=True)
    (tmp_path / ".kube" / "cache" / "discovery" / "servergroups.json").write_text("{}")
    assert home_kube_changes(before, home_kube_files(tmp_path)) == ["created cache/discovery/servergroups.json"]


def test_a_changed_and_a_removed_file_are_named(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("a")
    (tmp_path / ".kube" / "old").write_text("b")
    before = home_kube_files(tmp_path)
    (tmp_path / ".kube" / "config").write_text("a")  # same size: the mtime tells
    os.utime(tmp_path / ".kube" / "config", ns=(1, 1))
    (tmp_path / ".kube" / "old").unlink()
    assert home_kube_changes(before, home_kube_files(tmp_path)) == ["changed config", "removed old"]
    assert home_kube_changes(before, before) == []
