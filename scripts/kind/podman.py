"""The container engine, called as a program: podman from the toolchain (Debian's, configured for this VM)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts import toolchain
from scripts.errors import CliError


class EngineError(CliError):
    """The container engine is missing or one of its commands failed; the message names the command."""


def podman_path() -> str:
    """The toolchain's podman when installed, else one on PATH; a clear error when there is none."""
    tool = toolchain.TOOLS["podman"]
    if tool.installed():
        return str(tool.home / "bin" / "podman")
    found = shutil.which("podman")
    if found is None:
        raise EngineError(
            "no container engine: podman is not installed. Install it: `snap2prod toolchain --only podman`."
        )
    return found


def run(args: Sequence[str], *, log: Path | None = None, check: bool = True, timeout: float = 1800) -> str:
    """Run ``podman ARGS``; return stdout. With ``log`` the output goes there too, and errors point at it."""
    cmd = [podman_path(), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if log is not None:
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        where = f"; full log: {log}" if log else ""
        raise EngineError(f"podman {' '.join(args[:3])} failed (exit {proc.returncode}): {tail}{where}")
    return proc.stdout


def inspect_image(ref: str) -> dict[str, Any] | None:
    """The engine's description of a local image, or None when it has none of that name."""
    out = subprocess.run([podman_path(), "image", "inspect", ref], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    data = json.loads(out.stdout)
    return data[0] if data else None


def exists(kind: str, name: str) -> bool:
    """Whether a container, volume or network of that name exists."""
    sub = {"container": ["container", "exists"], "volume": ["volume", "exists"], "network": ["network", "exists"]}
    proc = subprocess.run([podman_path(), *sub[kind], name], capture_output=True, check=False)
    return proc.returncode == 0
