"""The containers.conf this kind of VM needs, merged into the user's own file (never replacing it).

Firecracker VMs here have cgroup v1 hierarchies and no CAP_SYS_RESOURCE: podman's defaults fail with
`crun: setrlimit RLIMIT_NOFILE`, the same for NPROC, and `crun: cgroups in hybrid mode not supported`.
Standard library only: the toolchain runs it before the virtualenv exists.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

REQUIRED: dict[str, dict[str, str]] = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=32768:32768"]'},
    "engine": {"runtime": '"runc"'},
}
"""Section → key → TOML value text."""


def config_path() -> Path:
    """Root's podman reads /etc/containers; everyone else their own ~/.config/containers."""
    if os.geteuid() == 0:
        return Path("/etc/containers/containers.conf")
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "containers" / "containers.conf"


def merge(text: str) -> tuple[str, list[str]]:
    """Add the keys this VM needs that ``text`` lacks; keep every setting the user made.

    Returns the new text and the user's own values that differ from what this VM needs (kept, reported).
    """
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"is not valid TOML ({err}); fix it or move it away") from None
    conflicts: list[str] = []
    out = text if not text or text.endswith("\n") else text + "\n"
    for section, keys in REQUIRED.items():
        existing = have.get(section, {})
        missing = {k: v for k, v in keys.items() if k not in existing}
        for key, value in keys.items():
            if key in existing and existing[key] != tomllib.loads(f"v = {value}")["v"]:
                conflicts.append(f"[{section}] {key} = {existing[key]!r} (this VM needs {value})")
        if not missing:
            continue
        lines = "".join(f"{k} = {v}\n" for k, v in missing.items())
        header = re.search(rf"^\[{section}\][ \t]*(#.*)?$", out, flags=re.M)
        if header:
            end = header.end() + 1
            out = out[:end] + lines + out[end:]
        else:
            out += f"{'' if not out or out.endswith(chr(10) * 2) else chr(10)}[{section}]\n{lines}"
    return out, conflicts


def ensure(path: Path | None = None) -> list[str]:
    """Write the merged config (only when something is missing); return the user's conflicting values."""
    path = path or config_path()
    text = path.read_text() if path.exists() else ""
    try:
        merged, conflicts = merge(text)
    except ValueError as err:
        raise ValueError(f"{path} {err}") from None
    if merged != text:
        tomllib.loads(merged)  # never write a file podman cannot read
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".snap2prod-tmp")
        tmp.write_text(merged)
        tmp.replace(path)
    return conflicts


def missing(path: Path | None = None) -> list[str]:
    """Keys this VM needs that the config lacks (for `toolchain --check`)."""
    path = path or config_path()
    text = path.read_text() if path.exists() else ""
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return [f"{path} is not valid TOML"]
    return [f"[{s}] {k}" for s, keys in REQUIRED.items() for k in keys if k not in have.get(s, {})]
