"""The pinned tools are installed in the cache and report the versions the installer pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import toolchain


@pytest.mark.parametrize("name", list(toolchain.TOOLS))
def test_every_pinned_tool_runs_and_reports_its_pinned_version(name: str) -> None:
    tool = toolchain.TOOLS[name]
    assert tool.installed(), f"{name} is not installed; `make toolchain` installs it"
    reported = tool.probe(tool.home)
    expected = toolchain.expected_version(tool)
    if expected:
        assert reported == expected
    else:  # Debian packages: pinned to the distribution release; the binary must run and print a version
        assert reported[0].isdigit(), reported


def test_check_lists_every_tool_as_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert toolchain.main(["--check"]) == 0
    out = capsys.readouterr().out
    for name in toolchain.TOOLS:
        assert f"{name} " in out
    assert "MISSING" not in out


def test_a_failed_build_step_names_the_step_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path))

    def install(home: Path, log: Path) -> None:  # a real `go install` of a module that does not exist
        toolchain.run(["go", "install", "example.invalid/snap2prod/nothing@v0.0.1"], log, env=toolchain.go_env(home))

    broken = toolchain.Tool("broken", "0.0.1", 0.1, install, lambda home: "0.0.1")
    monkeypatch.setitem(toolchain.TOOLS, "broken", broken)
    assert toolchain.main(["--only", "broken"]) == 1
    err = capsys.readouterr().err
    assert "broken failed: step failed: go install" in err
    assert f"full log: {tmp_path}/logs/broken-0.0.1.log" in err
    assert "Traceback" not in err
    assert not broken.installed()


def test_unknown_tool_is_refused_with_the_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert toolchain.main(["--only", "kubectx"]) == 2
    assert "unknown tool(s): kubectx; known: ollama" in capsys.readouterr().err
