"""`snap2prod promote --to {kind,prod,sim}`: the command; the steps are in scripts.promote.pipeline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from app.lock import DEFAULT_LOCK
from scripts.console import console
from scripts.promote.errors import PromoteError
from scripts.promote.pipeline import Options, promote
from scripts.promote.report import Report, print_report
from scripts.promote.target import TARGETS

KubeconfigOption = typer.Option(None, "--kubeconfig", help="default: $KUBECONFIG (sim: the sim's own)")
ValuesOption = typer.Option([], "--values", "-f", help="more values files, layered after the environment's")
ReportOption = typer.Option(None, "--report", help="write the report as JSON here")
LockOption = typer.Option(DEFAULT_LOCK, "--lock", help="the model lock")


def promote_command(
    to: str = typer.Option(..., "--to", help="kind, prod or sim"),
    kube_context: str | None = typer.Option(None, "--kube-context", help="the cluster's context (required for prod)"),
    kubeconfig: Path | None = KubeconfigOption,
    values: list[Path] = ValuesOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="render, validate server-side, show the diff; change nothing"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask before promoting to prod"),
    timeout: float = typer.Option(600, "--timeout", help="seconds the rollout and the helm test may take"),
    report: Path | None = ReportOption,
    from_lock: bool = typer.Option(False, "--from-lock", help="skip comparing the lock with the local Ollama"),
    host: str | None = typer.Option(None, "--host", help="the local Ollama (default: OLLAMA_HOST)"),
    lock: Path = LockOption,
    namespace: str = typer.Option("snap2prod", "--namespace", "-n"),
    release: str = typer.Option("snap2prod", "--release"),
    registry: str | None = typer.Option(
        None, "--registry", help="HOST[:PORT]/NAMESPACE: mirror the locked models there first; the cluster pulls them"
    ),
    insecure: bool = typer.Option(False, "--insecure", help="the --registry speaks plain HTTP"),
    retest: bool = typer.Option(
        False, "--retest", help="run the helm test again even when nothing changed and it passed before"
    ),
    rehearse_prod: bool = typer.Option(
        False,
        "--rehearse-prod",
        help="with --to kind: production's values (stacks/prod, sized by values-rehearsal.yaml) on the GPU-shaped node",
    ),
    allow_unenforced_policies: bool = typer.Option(
        False,
        "--allow-unenforced-policies",
        help="accept a cluster whose CNI does not enforce NetworkPolicies (verify otherwise fails and rolls back)",
    ),
    allow_unrestricted_namespace: bool = typer.Option(
        False,
        "--allow-unrestricted-namespace",
        help="prod: accept an existing namespace that does not enforce Pod Security restricted (refused otherwise)",
    ),
) -> None:
    """Promote the stack (chart, app image, Ollama, locked models) to a cluster: preflight, rollout, verify."""
    if to not in TARGETS:
        raise typer.BadParameter(f"must be one of {', '.join(TARGETS)}", param_hint="--to")
    opts = Options(
        to=to,
        kube_context=kube_context,
        kubeconfig=kubeconfig,
        values=values,
        dry_run=dry_run,
        yes=yes,
        timeout_s=timeout,
        report=report,
        from_lock=from_lock,
        host=host,
        lock=lock,
        namespace=namespace,
        release=release,
        registry=registry,
        insecure=insecure,
        retest=retest,
        rehearse_prod=rehearse_prod,
        allow_unenforced_policies=allow_unenforced_policies,
        allow_unrestricted_namespace=allow_unrestricted_namespace,
    )
    try:
        done = promote(opts)
    except PromoteError as err:
        if isinstance(err.report, Report) and err.report.revision is not None:
            print_report(err.report)  # the rollout had started: show where it stands now
        failed = f"[bold red]promote failed ({type(err).__name__}, exit {err.exit_code}):[/bold red]"
        console.print(f"{failed} {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(err.exit_code) from None
    print_report(done)


def register(cli: typer.Typer) -> None:
    """Add `snap2prod promote` to the `snap2prod` command."""
    cli.command("promote")(promote_command)
