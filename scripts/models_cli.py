"""`snap2prod models ...`: list, lock, verify, pull, import and mirror the models of the catalog.

Exit codes: 0 ok, 1 error (printed as one message), 3 `verify` found the server differs from the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.table import Table

from app.catalog import DEFAULT_CATALOG, Catalog, GgufImport, full_name, load_catalog, parse_modelfile, split_name
from app.errors import (
    CatalogError,
    DigestMismatch,
    LockError,
    ModelNotFound,
    OllamaError,
    RegistryError,
    Snap2ProdError,
)
from app.gateway import OllamaGateway, Progress
from app.lock import (
    DEFAULT_LOCK,
    Lock,
    LockedModel,
    Mirror,
    compare,
    describe,
    manifest_digest,
    normalize_digest,
    pin,
    read_lock,
    write_lock,
)
from app.settings import Settings
from scripts import progress
from scripts.progress import console

EXIT_DRIFT = 3
"""`models verify`: the server's models differ from the lock (missing, or another digest)."""

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Host = Annotated[str | None, typer.Option("--host", help="Ollama address (default: OLLAMA_HOST, else 127.0.0.1:11434)")]
LockPath = Annotated[Path, typer.Option("--lock", help="the lock file", dir_okay=False)]
CatalogPath = Annotated[Path, typer.Option("--catalog", help="the model catalog", dir_okay=False)]
Registry = Annotated[str | None, typer.Option("--registry", help="a mirror registry: HOST[:PORT]/NAMESPACE")]
Insecure = Annotated[bool, typer.Option("--insecure", help="the registry speaks plain HTTP")]
Models = Annotated[list[str] | None, typer.Option("--model", "-m", help="a model name (repeatable)")]


def _gateway(host: str | None) -> OllamaGateway:
    return OllamaGateway(host or Settings().ollama_host)


def _last_status(events: Iterable[Progress]) -> str:
    last = ""
    for event in events:
        last = event.status
    return last


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


def lock_models(gateway: OllamaGateway, names: list[str], catalog: Catalog, lock_path: Path) -> Lock:
    """Pin ``names`` (default: the catalog's models that the server has) into the lock file."""
    if not names:
        installed = {m.name for m in gateway.list_models()}
        names = [n for n in catalog.names if n in installed]
        if not names:
            raise LockError(
                f"None of the catalog's models is installed on {gateway.host}; pull or import one first "
                f"(`snap2prod models pull moondream`), or name models with --model."
            )
    pinned = pin(gateway, names)
    for entry in pinned:
        expected = catalog.find(entry.ref)
        lacking = [c for c in (expected.capabilities if expected else ()) if c not in entry.capabilities]
        if lacking:
            console.print(
                f"[yellow]warning:[/yellow] {entry.ref} does not report {', '.join(lacking)} (the catalog expects it)"
            )
    old = read_lock(lock_path) if lock_path.exists() else Lock(ollama_version=gateway.version())
    lock = old.merged(pinned, gateway.version())
    write_lock(lock, lock_path)
    return lock


@app.command("lock")
def lock_command(
    model: Models = None,
    host: Host = None,
    catalog_path: CatalogPath = DEFAULT_CATALOG,
    lock_path: LockPath = DEFAULT_LOCK,
) -> None:
    """Pin the digests of installed models into the lock file."""
    gateway = _gateway(host)
    lock = lock_models(gateway, list(model or []), load_catalog(catalog_path), lock_path)
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

PULL_HINTS = {
    "no Location header": (
        "the registry sent the blob itself (HTTP 200), but Ollama (0.24 through 0.32.15) only downloads blobs through a redirect "
        "to a blob store on another host name, the way registry.ollama.ai answers (ollama/ollama#7244). Serve "
        "the mirror with redirects: CNCF distribution with `middleware: storage: - name: redirect` (or an S3/"
        "CloudFront backend); see README.md, 'Models: catalog and lock'."
    ),
    "server gave HTTP response to HTTPS client": "the registry speaks plain HTTP: add --insecure.",
    "no such host": (
        "the Ollama server cannot resolve the registry's name (offline, or a typo). Pull from a mirror you can "
        "reach with --registry HOST/NAMESPACE, or create the model from local GGUF files with `models import`."
    ),
    "insecure protocol http": "the registry speaks plain HTTP: add --insecure.",
}
PUSH_HINTS = {
    "no Host in request URL": (
        "the registry answered the upload with a relative Location header, which Ollama (0.24 through 0.32.15) cannot follow "
        "(it needs an absolute URL, as CNCF distribution sends). `crane registry serve` is one such registry; "
        "mirror into a CNCF distribution registry instead."
    ),
    **PULL_HINTS,
}


def _with_hint(err: OllamaError, hints: dict[str, str], what: str) -> Snap2ProdError:
    text = str(err)
    for needle, hint in hints.items():
        if needle in text:
            return RegistryError(f"{what} failed: {text}\n  why: {hint}")
    return err


def _resolve(name: str, lock: Lock | None, catalog: Catalog) -> tuple[str, LockedModel | None]:
    """A name on the command line -> the full model name, and its lock entry when it is locked."""
    if lock is not None and (locked := lock.find(name)) is not None:
        return locked.ref, locked
    entry = catalog.find(name)
    if entry is not None:
        locked = lock.find(entry.name) if lock else None
        return entry.name, locked
    known = sorted({*catalog.names, *(m.ref for m in lock.models)} if lock else set(catalog.names))
    raise CatalogError(f"{name!r} is neither in the catalog nor in the lock. Known: {', '.join(known)}.")


def registry_ref(registry: str, name: str) -> str:
    """``HOST/NS`` + ``snap2prod/smollm2:135m`` -> ``HOST/NS/smollm2:135m`` (Ollama names have three parts)."""
    host, sep, namespace = registry.strip().strip("/").partition("/")
    if not sep or not host or not namespace or "/" in namespace:
        raise RegistryError(
            f"--registry must be HOST[:PORT]/NAMESPACE, e.g. 127.0.0.1:5000/snap2prod, not {registry!r}"
        )
    base, tag = split_name(full_name(name))
    return f"{host}/{namespace}/{base.rsplit('/', 1)[-1]}:{tag}"


def pull_model(
    gateway: OllamaGateway,
    ref: str,
    locked: LockedModel | None,
    *,
    registry: str | None = None,
    insecure: bool = False,
    show: bool = True,
) -> list[Progress]:
    """Pull ``ref`` (from ``registry`` when given, then renamed to ``ref``); check its digest against the lock.

    Returns the progress events. Raises DigestMismatch when a locked model arrives with another digest.
    """
    source = registry_ref(registry, ref) if registry else ref
    events: list[Progress] = []

    def record(stream: Iterator[Progress]) -> Iterator[Progress]:
        for event in stream:
            events.append(event)
            yield event

    try:
        stream = record(gateway.pull(source, insecure=insecure))
        if show:
            progress.show(stream, f"pull {source}")
        else:
            for _ in stream:
                pass
    except OllamaError as err:
        raise _with_hint(err, PULL_HINTS, f"pulling {source}") from None
    if source != ref:
        gateway.copy(source, ref)
        gateway.delete(source)
    if locked is not None:
        found = next((m.digest for m in gateway.list_models() if m.name == ref), None)
        if found is None:
            raise ModelNotFound(ref)
        if not locked.matches(found):
            raise DigestMismatch(ref, locked.digest, normalize_digest(found))
    return events


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
    for name in names:
        ref, locked = _resolve(name, lock, catalog)
        pull_model(gateway, ref, locked, registry=registry, insecure=insecure)
        state = "digest matches the lock" if locked else "not locked: `snap2prod models lock` pins it"
        console.print(f"{ref}: pulled, {state}")


# --- import ----------------------------------------------------------------------------------------------


def import_model(gateway: OllamaGateway, name: str, source: GgufImport, *, show: bool = True) -> tuple[str, ...]:
    """Create ``name`` from local GGUF file(s); returns the capabilities the server reports for it."""
    source.check_files()
    events = gateway.create_from_gguf(
        full_name(name), source.model_file, projector_file=source.projector_file, parameters=source.parameters
    )
    last = progress.show(events, f"import {name}") if show else _last_status(events)
    if last != "success":
        raise OllamaError(gateway.host, 500, f"creating {name} ended with {last!r} instead of success")
    return gateway.show(full_name(name)).capabilities


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
    caps = import_model(gateway, ref, source)
    lacking = [c for c in (entry.capabilities if entry else ()) if c not in caps]
    if lacking:
        console.print(f"[yellow]warning:[/yellow] {ref} does not report {', '.join(lacking)} (the catalog expects it)")
    console.print(f"{ref}: created ({', '.join(caps)})")


# --- mirror ----------------------------------------------------------------------------------------------


def registry_manifest(ref: str, *, insecure: bool, timeout_s: float = 30.0) -> bytes:
    """The manifest bytes a registry stores for ``HOST/NS/model:tag`` (OCI distribution API)."""
    host, namespace, rest = ref.split("/", 2)
    model, tag = rest.rsplit(":", 1)
    url = f"{'http' if insecure else 'https'}://{host}/v2/{namespace}/{model}/manifests/{tag}"
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    try:
        resp = httpx.get(url, headers={"Accept": accept}, timeout=timeout_s)
        resp.raise_for_status()
    except httpx.HTTPError as err:
        raise RegistryError(f"could not read back {ref} from the registry ({url}): {err}") from None
    return resp.content


def mirror_digest_for(local_digest: str, body: bytes, ref: str) -> str | None:
    """The mirror's digest when it differs from the local one only by Ollama's trailing newline; None when equal.

    Any other difference means the registry holds a different manifest than the one pushed.
    """
    local = normalize_digest(local_digest)
    remote = manifest_digest(body)
    if remote == local:
        return None
    if manifest_digest(body + b"\n") == local:
        return remote
    raise RegistryError(
        f"the registry's manifest for {ref} ({remote}) is not the one pushed ({local}); "
        "another push may have raced this one, or the registry rewrites manifests"
    )


def mirror_models(
    gateway: OllamaGateway,
    lock: Lock,
    registry: str,
    *,
    insecure: bool,
    names: list[str] | None = None,
    show: bool = True,
) -> Lock:
    """Push the locked models into ``registry`` (copy to ``HOST/NS/model:tag``, push, drop the copy) and return
    the lock with the mirror and each model's mirror digest recorded."""
    chosen = [m for m in lock.models if not names or m.ref in {full_name(n) for n in names}]
    if names and len(chosen) != len(names):
        unknown = sorted({full_name(n) for n in names} - {m.ref for m in chosen})
        raise LockError(f"not in the lock: {', '.join(unknown)}; lock them first (`snap2prod models lock --model ...`)")
    if not chosen:
        raise LockError("the lock names no models; run `snap2prod models lock` first")
    targets = {m.ref: registry_ref(registry, m.ref) for m in chosen}
    clashes = sorted(t for t in targets.values() if list(targets.values()).count(t) > 1)
    if clashes:
        raise RegistryError(f"two locked models map to the same registry name: {', '.join(sorted(set(clashes)))}")
    installed = {m.name: m for m in gateway.list_models()}
    updated: list[LockedModel] = []
    for locked in chosen:
        info = installed.get(locked.ref)
        if info is None:
            raise ModelNotFound(locked.ref)
        if not locked.matches(info.digest):
            raise DigestMismatch(locked.ref, locked.digest, normalize_digest(info.digest))
        target = targets[locked.ref]
        gateway.copy(locked.ref, target)
        try:
            events = gateway.push(target, insecure=insecure)
            last = progress.show(events, f"push {target}") if show else _last_status(events)
        except OllamaError as err:
            raise _with_hint(err, PUSH_HINTS, f"pushing {target}") from None
        finally:
            gateway.delete(target)
        if last != "success":
            raise RegistryError(f"pushing {target} ended with {last!r} instead of success")
        body = registry_manifest(target, insecure=insecure)
        mirrored = mirror_digest_for(info.digest, body, target)
        updated.append(locked.model_copy(update={"mirror_digest": mirrored}))
    by_ref = {m.ref: m for m in updated}
    models = tuple(by_ref.get(m.ref, m) for m in lock.models)
    return lock.model_copy(update={"models": models, "mirror": Mirror(registry=registry.strip("/"), insecure=insecure)})


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
    lock = mirror_models(gateway, read_lock(lock_path), registry, insecure=insecure, names=list(model or []))
    write_lock(lock, lock_path)
    for m in lock.models:
        console.print(f"  {m.ref:<32} -> {registry_ref(registry, m.ref)}  {(m.mirror_digest or m.digest)[:19]}")
    console.print(f"mirrored into {registry}; recorded in {lock_path}")
