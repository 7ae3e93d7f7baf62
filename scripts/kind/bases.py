"""Base images from Debian packages (mmdebstrap), for machines that reach Debian's mirror but no registry.

A base is a rootfs tarball keyed by its suite and package list, imported once as ``localhost/snap2prod-base-*``.
The machine's apt sources are used and removed from the rootfs, so no mirror's host name lands in an image.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from scripts import toolchain
from scripts.console import say
from scripts.kind import podman

SUITE = "bookworm"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
STRIP_APT = 'rm -f "$1"/etc/apt/sources.list; rm -rf "$1"/etc/apt/sources.list.d/* "$1"/var/lib/apt/lists/*'


@dataclass(frozen=True)
class Base:
    """One Debian rootfs: a name and the packages beyond `minbase`."""

    name: str
    packages: tuple[str, ...]
    hooks: tuple[str, ...] = ()
    """Extra mmdebstrap --customize-hook commands (run on the host with the rootfs as $1)."""

    @property
    def key(self) -> str:
        text = "\n".join([SUITE, *self.packages, STRIP_APT, *self.hooks])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"localhost/snap2prod-base-{self.name}:{self.key}"


PYTHON = Base("python", ("python3", "python3-venv", "python-is-python3", "passwd", "ca-certificates", "libglib2.0-0"))
"""The app's base: Debian 12's Python 3.11 (what python:3.11-slim-bookworm is, minus pip's network)."""
SLIM = Base("slim", ("ca-certificates", "nginx"))
"""The Ollama image's base: glibc, libstdc++ and a POSIX shell with coreutils (the chart's scripts need them); and
the API gate's, with Debian's nginx (one rootfs for both: a base costs minutes of mmdebstrap on a cold machine)."""


def base_dir() -> Path:
    return toolchain.cache_dir() / "images" / "bases"


def ensure(base: Base, log: Path) -> str:
    """Build (once per key) and import the base; returns its image reference."""
    if podman.inspect_image(base.ref) is not None:
        return base.ref
    tar = base_dir() / f"{base.name}-{base.key}.tar"
    if not tar.exists():
        build_rootfs(base, tar, log)
    podman.run(["import", "--quiet", str(tar), base.ref], log=log)
    return base.ref


def build_rootfs(base: Base, tar: Path, log: Path) -> None:
    """mmdebstrap the rootfs into ``tar`` (atomically: a failed build leaves nothing behind)."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise podman.EngineError("mmdebstrap is not installed. Install it: `snap2prod toolchain --only podman`.")
    if not SOURCES.exists():
        raise podman.EngineError(f"no Debian sources at {SOURCES}: mmdebstrap needs the machine's Debian mirror")
    tar.parent.mkdir(parents=True, exist_ok=True)
    part = tar.with_suffix(".part.tar")
    hooks = [arg for h in (STRIP_APT, *base.hooks) for arg in ("--customize-hook", h)]
    cmd = [
        mmdebstrap,
        "--variant=minbase",
        f"--include={','.join(base.packages)}",
        *hooks,
        SUITE,
        str(part),
        str(SOURCES),
    ]
    start = time.monotonic()
    say(f"  base {base.name}: mmdebstrap {SUITE} + {len(base.packages)} packages (~1-2 min)")
    try:
        toolchain.run(cmd, log, what=f"mmdebstrap of base {base.name} failed", error=podman.EngineError)
    except podman.EngineError:
        part.unlink(missing_ok=True)
        raise
    part.replace(tar)
    toolchain.note_build(f"base {base.name}", time.monotonic() - start)
    say(f"  base {base.name}: {tar.stat().st_size / 1e6:.0f} MB in {time.monotonic() - start:.0f} s")
