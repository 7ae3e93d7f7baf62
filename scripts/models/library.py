"""The model operations behind `snap2prod models` and `promote --registry`: lock, pull, import and mirror.

A plain library: no printing, no typer. Long operations take an ``on_progress`` callback (scripts.console's
``OnProgress``; ``ProgressBars`` draws bars, the default ``quiet`` shows nothing) and a warning callback, so the
command shows bars and promotion stays quiet through the very same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from app.catalog import Catalog, GgufImport, full_name, split_name
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
from app.lock import Lock, LockedModel, Mirror, manifest_digest, normalize_digest, pin, read_lock, write_lock
from scripts.console import OnProgress, quiet
from scripts.toolchain import OLLAMA_VERSION

Warn = Callable[[str], None]
"""Told about something worth a person's attention that does not stop the operation."""


def _ignore(message: str) -> None:
    """A ``Warn`` that says nothing."""


def _follow(events: Iterable[Progress], label: str, on_progress: OnProgress) -> str:
    """Pass every event to ``on_progress``; returns the last status ("success")."""
    last = ""
    for event in events:
        last = event.status
        on_progress(label, event)
    return last


# --- lock -----------------------------------------------------------------------------------------------


def lock_models(
    gateway: OllamaGateway, names: list[str], catalog: Catalog, lock_path: Path, *, warn: Warn = _ignore
) -> Lock:
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
            warn(f"{entry.ref} does not report {', '.join(lacking)} (the catalog expects it)")
    old = read_lock(lock_path) if lock_path.exists() else Lock(ollama_version=gateway.version())
    lock = old.merged(pinned, gateway.version())
    write_lock(lock, lock_path)
    return lock


# --- pull ------------------------------------------------------------------------------------------------

PULL_HINTS = {
    "no Location header": (
        f"the registry sent the blob itself (HTTP 200), but Ollama (0.24 through {OLLAMA_VERSION}) only downloads "
        "blobs through a redirect to a blob store on another host name, the way registry.ollama.ai answers "
        "(ollama/ollama#7244). Serve the mirror with redirects: CNCF distribution with `middleware: storage: - "
        "name: redirect` (or an S3/CloudFront backend); see README.md, 'Models: catalog and lock'."
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
        "the registry answered the upload with a relative Location header, which Ollama "
        f"(0.24 through {OLLAMA_VERSION}) cannot follow (it needs an absolute URL, as CNCF distribution sends). "
        "`crane registry serve` is one such"
        " registry; mirror into a CNCF distribution registry instead."
    ),
    **PULL_HINTS,
}


def _with_hint(err: OllamaError, hints: dict[str, str], what: str) -> Snap2ProdError:
    text = str(err)
    for needle, hint in hints.items():
        if needle in text:
            return RegistryError(f"{what} failed: {text}\n  why: {hint}")
    return err


def resolve(name: str, lock: Lock | None, catalog: Catalog) -> tuple[str, LockedModel | None]:
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
    on_progress: OnProgress = quiet,
) -> list[Progress]:
    """Pull ``ref`` (from ``registry`` when given, then renamed to ``ref``); check its digest against the lock.

    Returns the progress events. Raises DigestMismatch when a locked model arrives with another digest.
    """
    source = registry_ref(registry, ref) if registry else ref
    events: list[Progress] = []
    try:
        for event in gateway.pull(source, insecure=insecure):
            events.append(event)
            on_progress(f"pull {source}", event)
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


# --- import ----------------------------------------------------------------------------------------------


def import_model(
    gateway: OllamaGateway, name: str, source: GgufImport, *, on_progress: OnProgress = quiet
) -> tuple[str, ...]:
    """Create ``name`` from local GGUF file(s); returns the capabilities the server reports for it."""
    source.check_files()
    events = gateway.create_from_gguf(
        full_name(name), source.model_file, projector_file=source.projector_file, parameters=source.parameters
    )
    last = _follow(events, f"import {name}", on_progress)
    if last != "success":
        raise OllamaError(gateway.host, 500, f"creating {name} ended with {last!r} instead of success")
    return gateway.show(full_name(name)).capabilities


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
    on_progress: OnProgress = quiet,
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
            last = _follow(events, f"push {target}", on_progress)
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
