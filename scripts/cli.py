"""The `snap2prod` command: one verb per thing the README tells a person to do."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from app.errors import Snap2ProdError
from scripts import demo, models_cli, promote, sim, toolchain
from scripts.progress import console

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
cli.add_typer(sim.app, name="sim")
cli.add_typer(models_cli.app, name="models")
cli.command("promote")(promote.promote_command)


@cli.command("demo")
def demo_command() -> None:
    """Run the demo: Ollama, a model, and the page on http://localhost:8501 until Ctrl-C."""
    raise typer.Exit(demo.run())


@cli.command("up")
def up_command() -> None:
    """Start the laptop stack in the background (Ollama + the page); `status` shows it, `down` stops it."""
    raise typer.Exit(demo.run(foreground=False))


@cli.command("status")
def status_command() -> None:
    """Show what runs: processes, ports, health."""
    rows = demo.status()
    if not rows:
        console.print("nothing is running (start it with `snap2prod up` or `make demo`)")
    for row in rows:
        console.print(f"{row.name:<10} pid {row.pid:<7} {row.url:<28} {'healthy' if row.healthy else 'NOT healthy'}")
        console.print(f"{'':<10} log {row.log}")


@cli.command("down")
def down_command() -> None:
    """Stop everything `demo` or `up` started."""
    stopped = demo.down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@cli.command("toolchain")
def toolchain_command(
    only: str = typer.Option("all", help="comma-separated tools, or a profile: demo, all"),
    check: bool = typer.Option(False, "--check", help="print what is installed; install nothing"),
) -> None:
    """Install the pinned tools into the cache (or, with --check, report them)."""
    raise typer.Exit(toolchain.main(["--only", only, *(["--check"] if check else [])]))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors meant for people print as one message, never as a traceback."""
    try:
        code = cli(args=argv, standalone_mode=False)  # a command's `raise typer.Exit(n)` comes back as n
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except (Snap2ProdError, toolchain.ToolchainError) as err:
        console.print(f"[bold red]error:[/bold red] {escape(str(err))}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(err, click.ClickException):
            err.show()
            return err.exit_code
        if isinstance(err, typer.TyperException) and hasattr(err, "show"):  # typer >= 0.29 vendors its own click
            err.show()
            return int(getattr(err, "exit_code", 2))
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
