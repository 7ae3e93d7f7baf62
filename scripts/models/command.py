"""`snap2prod models ...`: list, lock, verify, pull, import and mirror the models of the catalog.

Exit codes: 0 ok, 1 error (printed as one message), 3 `verify` found the server differs from the lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.catalog import DEFAULT_CATALOG, GgufImport, full_name, load_catalog, parse_modelfile, unrunnable
from app.errors import CatalogError
from app.gateway import OllamaGateway
from app.lock import DEFAULT_LOCK, compare, describe, read_lock, write_lock
from app.settings import Settings
from scripts.console import ProgressBars, console
from scripts.models.library import import_model, lock_models, mirror_models, pull_model, registry_ref, resolve

EXIT_DRIFT = 3
"""`models verify`: the server's models differ from the lock (missing, or another digest)."""

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Host = Annotated[str | None, typer.Option("--host", help="Ollama address (default: OLLAMA_HOST, else 127.0.0.1:11434)")]
LockPath = Annotated[Path, typer.Option("--lock", help="the lock file", dir_okay=False)]
CatalogPath = Annotated[Path, typer.Option("--catalog", help="the model catalog", dir_okay=False)]
Registry = Annotated[str | None, typer.Option("--registry", help="a mirror registry: HOST[:PORT]/NAMESPACE")]
Insecure = Annotated[bool, typer.Option("--insecure", help="the registry speaks plain HTTP")]
Models = Annotated[list[str] | None, typer.Option("--model", "-m", help="a model name (repeatable)")]


def register(cli: typer.Typer) -> None:
    """Add `snap2prod models ...` to the `snap2prod` command."""
    cli.add_typer(app, name="models")


def _gateway(host: str | None) -> OllamaGateway:
    return OllamaGateway(host or Settings().ollama_host)


def _warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {message}")


# --- list ------------------------------------------------------------------------------------------------

BADGES = {
    "vision": "[black on green] vision [/]",
    "completion": "[black on cyan] text [/]",
    "tools": "[black on yellow] tools [/]",
}


def badges(capabilities: Iterable[str]) -> str:
    return " ".join(BADGES.get(c, f"[reverse] {c} [/]") for c in capabilities)


@app.command("list")
def list_command(
    host: Host = None, catalog_path: CatalogPath = DEFAULT_CATALOG, lock_path: LockPath = DEFAULT_LOCK
) -> None:
    """Show the installed models with capability badges, catalog role and lock state."""
    gateway = _gateway(host)
    catalog = load_catalog(catalog_path)
    lock = read_lock(lock_path) if lock_path.exists() else None
    table = Table(title=f"models on {gateway.host}")
    for column in ("model", "size", "capabilities", "role", "image px", "lock"):
        table.add_column(column)
    for info in gateway.list_models():
        entry = catalog.find(info.name)
        locked = lock.find(info.name) if lock else None
        state = "" if locked is None else ("pinned" if locked.matches(info.digest) else "[red]DIFFERS[/]")
        table.add_row(
            info.name,
            f"{info.size / 1e9:.2f} GB",
            badges(gateway.capabilities(info.name)),
            entry.role.value if entry else "",
            str(entry.image_size or "") if entry else "",
            state,
        )
    console.print(table)


# --- lock / verify ---------------------------------------------------------------------------------------


@app.command("lock")
def lock_command(
    model: Models = None,
    host: Host = None,
    catalog_path: CatalogPath = DEFAULT_CATALOG,
    lock_path: LockPath = DEFAULT_LOCK,
) -> None:
    """Pin the digests of installed models into the lock file."""
    gateway = _gateway(host)
    lock = lock_models(gateway, list(model or []), load_catalog(catalog_path), lock_path, warn=_warn)
    for m in lock.models:
        console.print(f"  {m.ref:<32} {m.digest[:19]}  {m.size / 1e9:6.2f} GB  {', '.join(m.capabilities)}")
    console.print(f"wrote {lock_path} ({len(lock.models)} model(s), Ollama {lock.ollama_version})")


@app.command("verify")
def verify_command(host: Host = None, lock_path: LockPath = DEFAULT_LOCK) -> None:
    """Compare a server's models with the lock; exit 3 when one is missing or has another digest."""
    gateway = _gateway(host)
    lock = read_lock(lock_path)
    drift = compare(lock, gateway.list_models())
    console.print(describe(drift, gateway.host), highlight=False)
    version = gateway.version()
    if version != lock.ollama_version:
        console.print(f"note: the server runs Ollama {version}, the lock was taken from {lock.ollama_version}")
    if not drift.clean:
        raise typer.Exit(EXIT_DRIFT)


# --- pull ------------------------------------------------------------------------------------------------


@app.command("pull")
def pull_command(
    names: Annotated[list[str], typer.Argument(help="catalog or lock names, e.g. moondream llava:7b")],
    registry: Registry = None,
    insecure: Insecure = False,
    host: Host = None,
    catalog_path: CatalogPath = DEFAULT_CATALOG,
    lock_path: LockPath = DEFAULT_LOCK,
) -> None:
    """Pull models with a progress bar; a locked model must arrive with its locked digest."""
    gateway = _gateway(host)
    catalog = load_catalog(catalog_path)
    lock = read_lock(lock_path) if lock_path.exists() else None
    refs = [resolve(name, lock, catalog) for name in names]
    refused = unrunnable(catalog, [ref for ref, _ in refs], gateway.version())
    if refused:
        raise CatalogError(" ".join(refused.values()))
    for ref, locked in refs:
        with ProgressBars() as bars:
            pull_model(gateway, ref, locked, registry=registry, insecure=insecure, on_progress=bars)
        state = "digest matches the lock" if locked else "not locked: `snap2prod models lock` pins it"
        console.print(f"{ref}: pulled, {state}")


# --- import ----------------------------------------------------------------------------------------------


@app.command("import")
def import_command(
    name: Annotated[str, typer.Argument(help="model name to create, e.g. snap2prod/smollm2:135m")],
    model_file: Annotated[Path | None, typer.Option("--model-file", help="the model's GGUF file")] = None,
    projector: Annotated[Path | None, typer.Option("--projector", help="a vision projector GGUF file")] = None,
    modelfile: Annotated[Path | None, typer.Option("--modelfile", help="a Modelfile (FROM + PARAMETER)")] = None,
    host: Host = None,
    catalog_path: CatalogPath = DEFAULT_CATALOG,
) -> None:
    """Create a model from local GGUF files (given, or from the Modelfile its catalog entry names)."""
    gateway = _gateway(host)
    catalog = load_catalog(catalog_path)
    entry = catalog.find(name)
    if model_file is not None:
        if modelfile is not None:
            raise CatalogError("give either --model-file (and --projector) or --modelfile, not both")
        source = GgufImport(model_file, projector)
    else:
        if projector is not None:
            raise CatalogError("--projector needs --model-file")
        if modelfile is None:
            if entry is None:
                raise CatalogError(
                    f"{name!r} is not in the catalog, so there is no Modelfile to import it from; "
                    "pass --model-file X.gguf [--projector Y.gguf] or --modelfile PATH"
                )
            modelfile = catalog.modelfile_path(entry)
        source = parse_modelfile(modelfile)
    ref = entry.name if entry else full_name(name)
    with ProgressBars() as bars:
        caps = import_model(gateway, ref, source, on_progress=bars)
    lacking = [c for c in (entry.capabilities if entry else ()) if c not in caps]
    if lacking:
        _warn(f"{ref} does not report {', '.join(lacking)} (the catalog expects it)")
    console.print(f"{ref}: created ({', '.join(caps)})")


# --- mirror ----------------------------------------------------------------------------------------------


@app.command("mirror")
def mirror_command(
    registry: Annotated[str, typer.Option("--registry", help="HOST[:PORT]/NAMESPACE of a private OCI registry")],
    insecure: Insecure = False,
    model: Models = None,
    host: Host = None,
    lock_path: LockPath = DEFAULT_LOCK,
) -> None:
    """Push the locked models into a private OCI registry, for clusters without internet access."""
    gateway = _gateway(host)
    with ProgressBars() as bars:
        lock = mirror_models(
            gateway, read_lock(lock_path), registry, insecure=insecure, names=list(model or []), on_progress=bars
        )
    write_lock(lock, lock_path)
    for m in lock.models:
        console.print(f"  {m.ref:<32} -> {registry_ref(registry, m.ref)}  {(m.mirror_digest or m.digest)[:19]}")
    console.print(f"mirrored into {registry}; recorded in {lock_path}")
