"""The rooms of docs/ARCHITECTURE.md, enforced: a lower room never imports a higher one, and no import circles.

Every import counts, the ones inside functions too (a hidden import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = "scripts (shared)"
UI = "app.ui"
COMMANDS = {"scripts.demo", "scripts.models", "scripts.sim", "scripts.promote", "scripts.kind"}
ROOMS: dict[str, set[str]] = {
    "app": set(),
    UI: {"app"},
    SHARED: {"app"},
    "scripts.demo": {"app", SHARED},
    "scripts.models": {"app", SHARED},
    "scripts.sim": {"app", SHARED},
    "scripts.kind": {"app", SHARED},
    "scripts.promote": {"app", SHARED, "scripts.models", "scripts.sim", "scripts.kind"},
    "scripts.cli": {"app", SHARED, *COMMANDS},
    "bench": {"app", SHARED, *COMMANDS},
}
"""Each room and the rooms it may import (docs/ARCHITECTURE.md draws the same picture)."""
SHARED_PACKAGES = {"scripts.toolchain"}
"""Shared modules grown into a package of their own: they stay in the shared room."""


def modules() -> dict[str, Path]:
    """Every module of app/, scripts/ and bench/ by dotted name (a package by its own name)."""
    found = {}
    for top in ("app", "scripts", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def room(module: str) -> str:
    """The room a module lives in: the vision core (app), the page (app/ui with the page's entry points), a command
    package, the CLI, the benchmarks, or the shared modules of scripts/ (a shared package's modules among them)."""
    parts = module.split(".")
    if parts[0] == "bench":
        return "bench"
    if module in ("app.ui", "app.streamlit_app", "app.serve") or module.startswith("app.ui."):
        return UI
    if parts[0] == "app":
        return "app"
    if len(parts) >= 2 and (ROOT / "scripts" / parts[1]).is_dir() and f"scripts.{parts[1]}" not in SHARED_PACKAGES:
        return f"scripts.{parts[1]}"
    return "scripts.cli" if module == "scripts.cli" else SHARED


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports; ``from pkg import mod`` counts as an import of ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module in known:
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            plain = [alias for alias in node.names if f"{node.module}.{alias.name}" not in known]
            found |= subs | ({node.module} if plain else set())
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_package_of_scripts_has_a_room() -> None:
    rooms = {room(name) for name in modules()}
    assert rooms <= ROOMS.keys(), f"new rooms {sorted(rooms - ROOMS.keys())}: say in ROOMS what they may import"


def upward(edges: dict[str, set[str]]) -> list[str]:
    """The imports of a room that its ROOMS entry does not allow."""
    return [
        f"{name} ({room(name)}) imports {target} ({room(target)})"
        for name, targets in edges.items()
        for target in sorted(targets)
        if room(target) != room(name) and room(target) not in ROOMS[room(name)]
    ]


def test_no_room_imports_a_room_above_it() -> None:
    assert upward(graph()) == []


def test_another_command_package_is_used_through_its_face_or_its_library() -> None:
    """promote uses `scripts.sim` (its __init__) and `scripts.models.library`, never their commands or insides."""
    wrong = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in sorted(targets)
        if room(target) not in ("app", UI, SHARED, room(name))
        and room(name) not in ("scripts.cli", "bench")
        and target != room(target)
        and not target.endswith(".library")
    ]
    assert wrong == []


def test_there_is_no_import_circle() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_vision_core_importing_the_page_or_the_cli_is_refused() -> None:
    """app/ (the core) is the room below app/ui and below scripts/ and bench/: the rules flag such imports."""
    edges = {"app.describe": {"app.ui.capture", "scripts.toolchain"}, "app.ui.capture": {"app.describe"}}
    assert upward(edges) == [
        "app.describe (app) imports app.ui.capture (app.ui)",
        "app.describe (app) imports scripts.toolchain (scripts (shared))",
    ]


def test_the_rules_see_imports_inside_functions(tmp_path: Path) -> None:
    """The old bootstrap -> synthetic_vision import hid inside a function; the rules must still see such a one."""
    source = tmp_path / "hidden.py"
    source.write_text("def plan() -> None:\n    from scripts.demo import offline_models, stack\n")
    assert imports(source, modules()) == {"scripts.demo.offline_models", "scripts.demo.stack"}
