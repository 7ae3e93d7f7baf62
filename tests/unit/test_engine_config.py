"""The container engine's config: what this VM needs is added, what the user wrote is kept."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from scripts import engine_config


def test_an_empty_config_gets_the_three_settings_this_vm_needs() -> None:
    text, conflicts = engine_config.merge("")
    data = tomllib.loads(text)
    assert data["engine"]["runtime"] == "runc"
    assert data["containers"]["default_ulimits"] == ["nofile=20000:20000", "nproc=32768:32768"]
    assert conflicts == []


def test_a_users_settings_and_comments_are_kept() -> None:
    mine = '# my podman\n[engine]\ncgroup_manager = "cgroupfs"\n\n[network]\ndns_bind_port = 53\n'
    text, _ = engine_config.merge(mine)
    data = tomllib.loads(text)
    assert text.startswith("# my podman\n")
    assert data["engine"] == {"cgroup_manager": "cgroupfs", "runtime": "runc"}
    assert data["network"] == {"dns_bind_port": 53}


def test_a_users_own_runtime_is_kept_and_reported() -> None:
    text, conflicts = engine_config.merge('[engine]\nruntime = "crun"\n')
    assert tomllib.loads(text)["engine"]["runtime"] == "crun"
    assert len(conflicts) == 1 and "runtime" in conflicts[0] and "crun" in conflicts[0]


def test_merging_twice_changes_nothing(tmp_path: Path) -> None:
    """The second run does not even rewrite the file: the same inode (a write replaces it) and mtime."""
    path = tmp_path / "containers.conf"
    assert engine_config.ensure(path) == []
    first, written = path.read_text(), path.stat()
    assert engine_config.ensure(path) == []
    assert path.read_text() == first
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_missing_names_the_keys_a_config_lacks_until_it_is_merged(tmp_path: Path) -> None:
    path = tmp_path / "containers.conf"
    assert engine_config.missing(path) == ["[containers] default_ulimits", "[engine] runtime"]
    path.write_text('[engine]\nruntime = "crun"\n')
    assert engine_config.missing(path) == ["[containers] default_ulimits"]
    engine_config.ensure(path)
    assert engine_config.missing(path) == []


def test_a_broken_config_is_refused_in_one_line_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "containers.conf"
    path.write_text("[engine\nruntime=")
    with pytest.raises(ValueError, match="not valid TOML") as err:
        engine_config.ensure(path)
    assert "\n" not in str(err.value)
    assert path.read_text() == "[engine\nruntime="
