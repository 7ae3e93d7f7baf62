"""Manifest scanners we did not write, run on the rendered chart (tests/integration/test_chart_scanners.py):
kube-score and checkov."""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.pins import CHECKOV_VERSION, KUBE_SCORE_VERSION
from scripts.toolchain.runner import capture, first_match, go_install, run


def _install_kube_score(home: Path, log: Path) -> None:
    """kube-score from its Go module; its version is a goreleaser `-X`, without it it says "development"."""
    ldflags = f"-s -w -X main.version={KUBE_SCORE_VERSION}"
    go_install(home, log, ldflags, f"github.com/zegl/kube-score/cmd/kube-score@v{KUBE_SCORE_VERSION}")


def _probe_kube_score(home: Path) -> str:
    return first_match(r"version: (\d+\.\d+\.\d+)", capture([str(home / "bin" / "kube-score"), "version"]))


def _install_checkov(home: Path, log: Path) -> None:
    """checkov in a venv of its own under its tool folder: its many pinned dependencies never meet the project's."""
    venv = home / "venv"
    run([sys.executable, "-m", "venv", str(venv)], log)
    pip = str(venv / "bin" / "pip")
    run([pip, "install", "--quiet", "--disable-pip-version-check", f"checkov=={CHECKOV_VERSION}"], log)
    (home / "bin").mkdir(exist_ok=True)
    target = home / "bin" / "checkov"
    target.unlink(missing_ok=True)
    target.symlink_to(venv / "bin" / "checkov")


def _probe_checkov(home: Path) -> str:
    return first_match(r"^(\d+\.\d+\.\d+)", capture([str(home / "bin" / "checkov"), "--version"]).strip())


KUBE_SCORE = Tool("kube-score", KUBE_SCORE_VERSION, 3, _install_kube_score, _probe_kube_score)
CHECKOV = Tool("checkov", CHECKOV_VERSION, 4, _install_checkov, _probe_checkov)
