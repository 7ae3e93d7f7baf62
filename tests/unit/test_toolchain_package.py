"""The toolchain package: it runs on a bare interpreter (before the venv exists), and pins.py alone spells the
versions it pins."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import toolchain
from scripts.toolchain import pins

ROOT = Path(__file__).resolve().parents[2]
BARE_PYTHON = Path("/usr/bin/python3")
THIRD_PARTY = ("yaml", "pydantic", "rich", "typer", "kubernetes", "httpx")
"""What the venv brings and a bare interpreter lacks; the toolchain must import none of it."""

BARE_RUN = f"""
import runpy, sys
sys.argv = ["scripts.toolchain", "--check", "--only", "helm"]
try:
    runpy.run_module("scripts.toolchain", run_name="__main__", alter_sys=True)  # what `python3 -m` does
except SystemExit as done:
    print("exit", done.code)
print("venv", sys.prefix != sys.base_prefix)
print("third-party", sorted(name for name in {THIRD_PARTY!r} if name in sys.modules))
"""


def _bare_env() -> dict[str, str]:
    """This environment without the venv: no VIRTUAL_ENV, no PYTHONPATH, the venv's bin off PATH, no user site."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.mark.skipif(not BARE_PYTHON.exists(), reason="no system Python at /usr/bin/python3")
def test_python_m_scripts_toolchain_check_runs_on_a_bare_interpreter() -> None:
    proc = subprocess.run(
        [str(BARE_PYTHON), "-c", BARE_RUN], cwd=ROOT, env=_bare_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no traceback, no runpy warning about a module imported twice
    lines = proc.stdout.splitlines()
    # installed or not, helm gets its line: name, pinned version, status
    assert re.match(rf"helm +{re.escape(toolchain.HELM_VERSION)} +(ok|MISSING|MISMATCH)\b", lines[0]), lines
    assert lines[-3] in ("exit 0", "exit 1"), lines
    assert lines[-2:] == ["venv False", "third-party []"], lines


def _pinned_versions() -> set[str]:
    """Every dotted version (and the sdist's digest) pins.py holds, in its constants and their tuples."""
    texts: list[str] = []
    for name in dir(pins):
        value = getattr(pins, name)
        if name.isupper():
            texts += value if isinstance(value, tuple) else [value]
    found = {v for text in texts for v in re.findall(r"\d+\.\d+\.\d+", text)}
    return found | {pins.LLAMA_CPP_SDIST_SHA256}


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants a module's code uses, f-strings' parts included; docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_pins_py_is_the_only_module_that_spells_a_pinned_version() -> None:
    """A version bump is one edit: code elsewhere in scripts/, app/ and bench/ names the pin (OLLAMA_VERSION ...),
    never its value. Docstrings and comments may say which version a fact was measured on."""
    versions = _pinned_versions()
    assert {toolchain.OLLAMA_VERSION, toolchain.HELM_VERSION, toolchain.KUBERNETES_VERSION} <= versions
    assert toolchain.KIND_VERSION in versions
    spelled = re.compile(r"(?<![\d.])(" + "|".join(re.escape(v) for v in sorted(versions)) + r")(?!\d|\.\d)")
    found = [
        f"{path.relative_to(ROOT)}:{line}: {match.group(1)}"
        for top in ("scripts", "app", "bench")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != ROOT / "scripts" / "toolchain" / "pins.py"
        for line, text in _code_strings(path)
        for match in spelled.finditer(text)
    ]
    assert found == []


def test_the_version_check_sees_a_pinned_version_in_code_and_not_in_a_docstring(tmp_path: Path) -> None:
    version = toolchain.OLLAMA_VERSION
    source = tmp_path / "m.py"
    source.write_text(f'"""Measured on Ollama {version}."""\nTAG = "ollama:{version}"\n')
    assert [text for _, text in _code_strings(source)] == [f"ollama:{version}"]


class StepError(toolchain.ToolchainError):
    """A caller's own error class."""


def test_run_logs_the_step_returns_its_output_and_raises_with_its_tail_in_the_callers_class(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    log.write_text("earlier\n")
    assert toolchain.run(["sh", "-c", "echo out; echo err >&2"], log) == "out\nerr\n"
    assert toolchain.run(["cat"], log, input="fed\n") == "fed\n"
    with pytest.raises(StepError) as failed:
        toolchain.run(["sh", "-c", "seq 1 40; exit 3"], log, what="counting failed", error=StepError)
    tail = "\n".join(str(n) for n in range(26, 41))
    assert str(failed.value) == f"counting failed (exit 3)\n{tail}\nfull log: {log}"
    with pytest.raises(toolchain.ToolchainError, match=r"^step failed: sh -c exit 4 \(exit 4\)"):
        toolchain.run(["sh", "-c", "exit 4"], log)
    steps = log.read_text().split("\n\n$ ")
    assert steps[:3] == ["earlier", "sh -c echo out; echo err >&2\nout\nerr", "cat\nfed"]
    assert steps[3].startswith("sh -c seq 1 40; exit 3\n1\n2\n")


def test_run_stops_a_step_its_watch_finds_hopeless(tmp_path: Path) -> None:
    asked: list[int] = []

    def watch() -> str | None:
        asked.append(1)
        return "the server it waits for died" if len(asked) > 1 else None

    with pytest.raises(StepError, match=r"^the server it waits for died$"):
        toolchain.run(["sleep", "30"], tmp_path / "log", watch=watch, error=StepError)
