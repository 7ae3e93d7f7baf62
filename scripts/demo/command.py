"""`snap2prod demo`, `up`, `status`, `down`: the laptop stack's verbs (top-level, not a group)."""

from __future__ import annotations

import typer

from scripts.console import console
from scripts.demo import stack


def demo_command() -> None:
    """Run the demo: Ollama, a model, and the page on http://localhost:8501 until Ctrl-C."""
    raise typer.Exit(stack.run())


def up_command() -> None:
    """Start the laptop stack in the background (Ollama + the page); `status` shows it, `down` stops it."""
    raise typer.Exit(stack.run(foreground=False))


def status_command() -> None:
    """Show what runs: processes, ports, health; exits 1 when nothing runs or a part is not healthy (as every
    `status` verb does)."""
    rows = stack.status()
    if not rows:
        console.print("nothing is running (start it with `snap2prod up` or `make demo`)")
    for row in rows:
        console.print(f"{row.name:<10} pid {row.pid:<7} {row.url:<28} {'healthy' if row.healthy else 'NOT healthy'}")
        console.print(f"{'':<10} log {row.log}")
    raise typer.Exit(0 if rows and all(row.healthy for row in rows) else 1)


def down_command() -> None:
    """Stop everything `demo` or `up` started."""
    stopped = stack.down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def register(cli: typer.Typer) -> None:
    """Add the demo's verbs to the `snap2prod` command."""
    cli.command("demo")(demo_command)
    cli.command("up")(up_command)
    cli.command("status")(status_command)
    cli.command("down")(down_command)
