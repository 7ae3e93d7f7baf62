"""Install every tool snap2prod needs, pinned, into a cache outside the repository.

The command line of the package: ``python3 -m scripts.toolchain [--only a,b|profile] [--check]``.
"""

from __future__ import annotations

import argparse
import sys

from scripts.toolchain.cache import cache_dir
from scripts.toolchain.runner import ToolchainError
from scripts.toolchain.tools import PROFILES, TOOLS, check, ensure


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
    print(f"toolchain: installing {len(todo)} of {len(names)} tool(s) into {cache_dir() / 'tools'}", flush=True)
    for i, name in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {name} {TOOLS[name].version}", flush=True)
        try:
            ensure(name)
        except ToolchainError as err:
            print(f"toolchain: {name} failed: {err}", file=sys.stderr)
            return 1
    return 0
