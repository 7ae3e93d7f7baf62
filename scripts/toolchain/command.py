"""Install every tool snap2prod needs, pinned, into a cache outside the repository.

The command line of the package: ``python3 -m scripts.toolchain [--only a,b|profile] [--check]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from scripts.toolchain.cache import cache_dir
from scripts.toolchain.runner import ToolchainError
from scripts.toolchain.tools import PROFILES, TOOLS, check, ensure

JOBS_ENV = "SNAP2PROD_TOOLCHAIN_JOBS"
DEFAULT_JOBS = 2
"""Two builds at a time: a build's single-threaded stretches (module downloads, linking, configure) leave a core
idle that the other build fills; on 2 cores the cold toolchain takes less time (measured in the README)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toolchain", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="all", help="comma-separated tools, or a profile: demo, all")
    parser.add_argument("--check", action="store_true", help="print what is installed; install nothing")
    args = parser.parse_args(argv)
    names: tuple[str, ...] = PROFILES.get(args.only) or tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        print(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    if args.check:
        return check(names)
    todo = [n for n in names if not TOOLS[n].installed()]
    if not todo:
        print(f"toolchain: {len(names)} tool(s) ready in {cache_dir() / 'tools'}")
        return 0
    jobs = max(1, int(os.environ.get(JOBS_ENV) or DEFAULT_JOBS))
    where = cache_dir() / "tools"
    print(f"toolchain: installing {len(todo)} of {len(names)} tool(s) into {where}, {jobs} at a time", flush=True)
    started = iter(range(1, len(todo) + 1))
    lock = threading.Lock()

    def install(name: str) -> str | None:
        with lock:
            print(f"[{next(started)}/{len(todo)}] {name} {TOOLS[name].version}", flush=True)
        try:
            ensure(name)
        except ToolchainError as err:
            return f"toolchain: {name} failed: {err}"
        return None

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failures = [f for f in pool.map(install, todo) if f is not None]
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0
