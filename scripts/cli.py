"""The `snap2prod` command: one verb per thing the README tells a person to do.

Each command package (scripts/demo, models, sim, promote, ...) has a ``register(cli)`` that adds its verbs; a new
package adds itself to ``COMMANDS``. Every error meant for a person is an ``app.errors.Snap2ProdError`` (the
commands' own derive from scripts.errors.CliError), so ``main`` catches one base.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.markup import escape

from app.errors import Snap2ProdError
from scripts import demo, kind, models, promote, sim, toolchain
from scripts.console import console

COMMANDS: tuple[Callable[[typer.Typer], None], ...] = (
    sim.register,
    models.register,
    promote.register,
    demo.register,
    kind.register,
)
"""The command groups, in the order `snap2prod --help` lists them."""

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0] if __doc__ else None)
for register in COMMANDS:
    register(cli)


@cli.command("toolchain")
def toolchain_command(
    only: str = typer.Option("all", help="comma-separated tools, or a profile: demo, all"),
    check: bool = typer.Option(False, "--check", help="print what is installed; install nothing"),
) -> None:
    """Install the pinned tools into the cache (or, with --check, report them)."""
    raise typer.Exit(toolchain.main(["--only", only, *(["--check"] if check else [])]))


EXIT_CODES = {
    0: "ok (a `status` verb: what it describes runs and is ready)",
    1: "an error, one message and no traceback (a `status` verb: nothing runs, or it is not ready)",
    2: "a bad flag or value",
    3: "drift: the lock does not match an Ollama (`models verify`, promote's parity check) or an image is unpinned",
    4: "promote's target was refused: no container engine, a foreign cluster, a busy port, not confirmed",
    5: "preflight failed: the cluster cannot run the stack, or the API server refused a request; nothing changed",
    6: "the rollout failed and was rolled back (a failed first install is removed)",
    7: "verify failed (models or helm test) and was rolled back",
}
"""Every exit code `snap2prod` returns; the README's table is checked against it (tests/unit/test_cli_parts.py)."""


def exit_code_table() -> str:
    """The README's table of exit codes, made from ``EXIT_CODES``."""
    rows = [f"| `{code}` | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| exit | meaning |", "| --- | --- |", *rows])


def exit_code(err: Snap2ProdError) -> int:
    """The code a failure exits with: the error's class says it (scripts.errors.CliError), else 1."""
    code = getattr(err, "exit_code", 1)
    return code if isinstance(code, int) and code in EXIT_CODES and code != 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors meant for people print as one message, never as a traceback."""
    return run(cli, argv)


def run(command: typer.Typer, argv: list[str] | None) -> int:
    """Run ``command`` with ``argv``: a person's error prints as one line and exits with its class's code."""
    try:
        code = command(args=argv, standalone_mode=False)  # a command's `raise typer.Exit(n)` comes back as n
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except Snap2ProdError as err:
        console.print(f"[bold red]error:[/bold red] {escape(str(err))}", soft_wrap=True)
        return exit_code(err)
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
