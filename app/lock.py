"""The digest lock (models/models.lock): which model bytes the stack runs, pinned by manifest digest.

The lock is plain YAML so the Helm chart and promotion can read it without snap2prod::

    version: 1
    ollama_version: 0.34.0          # the server the lock was taken from
    mirror:                         # set by `snap2prod models mirror` (absent otherwise)
      registry: registry.local:5000/snap2prod
      insecure: true
    models:
    - name: snap2prod/smollm2       # Ollama name without the tag
      tag: 135m
      digest: sha256:7ed6...        # manifest digest, as /api/tags reports it
      mirror_digest: sha256:70d1... # the same manifest as the mirror stores it, when its bytes differ
      size: 98363025                # bytes, as /api/tags reports it
      capabilities: [completion]    # as /api/show reports them

A model on a server matches its entry when the server's digest equals ``digest`` or ``mirror_digest``. The
second one exists because Ollama writes the manifest of a model it *created* with a trailing newline and pushes
it without one, so the same layers get a second manifest digest once they went through a registry (models
pulled from a registry keep the registry's bytes and have one digest). `models mirror` checks the two differ
by exactly that newline before it records ``mirror_digest``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.catalog import MODELS_DIR, full_name, split_name
from app.errors import LockError, ModelNotFound
from app.gateway import ModelInfo, OllamaGateway

DEFAULT_LOCK = MODELS_DIR / "models.lock"
LOCK_VERSION: Literal[1] = 1

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

HEADER = """\
# snap2prod digest lock: the exact model bytes this stack runs. Written by `snap2prod models lock`;
# checked by `snap2prod models verify` and `models pull`. Format: app/lock.py and README.md
# ("Models: catalog and lock"). Edit by re-locking, not by hand.
"""


def normalize_digest(value: str) -> str:
    """``/api/tags`` gives bare hex; the lock writes ``sha256:<hex>`` like every OCI tool."""
    value = value.strip().lower()
    return value if value.startswith("sha256:") else f"sha256:{value}"


def manifest_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class LockedModel(BaseModel):
    """One pinned model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    tag: str = Field(min_length=1)
    digest: str
    mirror_digest: str | None = None
    size: int = Field(ge=0)
    capabilities: tuple[str, ...] = ()

    @field_validator("digest", "mirror_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = normalize_digest(value)
        if not _DIGEST.fullmatch(value):
            raise ValueError(f"{value!r} is not a sha256 digest (sha256: and 64 hex digits)")
        return value

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    def matches(self, digest: str) -> bool:
        return normalize_digest(digest) in {self.digest, self.mirror_digest}

    def matched_field(self, digest: str) -> str:
        """Which of the lock's digests ``digest`` is: "digest", "mirror_digest", or "" for neither."""
        found = normalize_digest(digest)
        return "digest" if found == self.digest else "mirror_digest" if found == self.mirror_digest else ""


class Mirror(BaseModel):
    """The private registry the models were mirrored into (``HOST[:PORT]/NAMESPACE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str
    insecure: bool = False


class Lock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = LOCK_VERSION
    ollama_version: str
    mirror: Mirror | None = None
    models: tuple[LockedModel, ...] = ()

    @field_validator("models")
    @classmethod
    def _unique(cls, value: tuple[LockedModel, ...]) -> tuple[LockedModel, ...]:
        refs = [m.ref for m in value]
        doubles = sorted({r for r in refs if refs.count(r) > 1})
        if doubles:
            raise ValueError(f"locked twice: {', '.join(doubles)}")
        return value

    def find(self, name: str) -> LockedModel | None:
        ref = full_name(name)
        return next((m for m in self.models if m.ref == ref), None)

    def merged(self, new: Iterable[LockedModel], ollama_version: str) -> Lock:
        """This lock with ``new`` entries added or replaced (order kept); a re-pinned model loses its
        mirror digest unless its digest stayed the same."""
        replaced = {m.ref: m for m in new}
        models: list[LockedModel] = []
        for old in self.models:
            if old.ref in replaced:
                fresh = replaced.pop(old.ref)
                if fresh.digest == old.digest and fresh.mirror_digest is None:
                    fresh = fresh.model_copy(update={"mirror_digest": old.mirror_digest})
                models.append(fresh)
            else:
                models.append(old)
        models.extend(replaced.values())
        return self.model_copy(update={"models": tuple(models), "ollama_version": ollama_version})


def read_lock(path: Path | None = None) -> Lock:
    path = path or DEFAULT_LOCK
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"No lock at {path}. Create it with `snap2prod models lock`.") from None
    except yaml.YAMLError as err:
        raise LockError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise LockError(f"{path} is not a snap2prod lock (expected a mapping with 'models').")
    try:
        return Lock.model_validate(raw)
    except ValidationError as err:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()
        ]
        raise LockError(f"{path} is not a valid lock:\n" + "\n".join(lines)) from None


def write_lock(lock: Lock, path: Path | None = None) -> Path:
    path = path or DEFAULT_LOCK
    data = lock.model_dump(mode="json", exclude_none=True)
    text = HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def pin(gateway: OllamaGateway, names: Sequence[str]) -> list[LockedModel]:
    """Lock entries for ``names`` as the server reports them now (digest and size from /api/tags, capabilities
    from /api/show). A name the server does not have raises ModelNotFound."""
    installed = {m.name: m for m in gateway.list_models()}
    pinned: list[LockedModel] = []
    for name in names:
        ref = full_name(name)
        info = installed.get(ref)
        if info is None:
            raise ModelNotFound(ref)
        base, tag = split_name(ref)
        caps = gateway.show(ref).capabilities
        pinned.append(LockedModel(name=base, tag=tag, digest=info.digest, size=info.size, capabilities=caps))
    return pinned


# --- comparing a server with the lock --------------------------------------------------------------------


@dataclass(frozen=True)
class Differs:
    locked: LockedModel
    found: str


@dataclass(frozen=True)
class Drift:
    """How a server's models compare with a lock. Models the lock does not name (``extra``) are fine on a
    laptop; promote's verify refuses them in a cluster unless the chart's ``models.allowExtras`` is set."""

    ok: tuple[LockedModel, ...] = ()
    missing: tuple[LockedModel, ...] = ()
    differs: tuple[Differs, ...] = ()
    extra: tuple[str, ...] = field(default=())
    served: tuple[tuple[str, str], ...] = field(default=())
    """For each model in ``ok``: its ref and the digest the server reported (the lock's digest or mirror_digest)."""

    @property
    def clean(self) -> bool:
        return not self.missing and not self.differs


def compare(lock: Lock, installed: Iterable[ModelInfo]) -> Drift:
    by_name = {m.name: m for m in installed}
    ok: list[LockedModel] = []
    missing: list[LockedModel] = []
    differs: list[Differs] = []
    served: list[tuple[str, str]] = []
    for locked in lock.models:
        info = by_name.get(locked.ref)
        if info is None:
            missing.append(locked)
        elif locked.matches(info.digest):
            ok.append(locked)
            served.append((locked.ref, normalize_digest(info.digest)))
        else:
            differs.append(Differs(locked, normalize_digest(info.digest)))
    refs = {m.ref for m in lock.models}
    extra = tuple(sorted(n for n in by_name if n not in refs))
    return Drift(tuple(ok), tuple(missing), tuple(differs), extra, tuple(served))


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def describe(drift: Drift, host: str) -> str:
    """A diff a person reads: one line per locked model, then the models the lock does not mention."""
    lines: list[str] = []
    for m in drift.ok:
        lines.append(f"  ok       {m.ref}  {_short(m.digest)}")
    for m in drift.missing:
        lines.append(f"- missing  {m.ref}  locked {_short(m.digest)}, not on the server")
    for d in drift.differs:
        pinned = _short(d.locked.digest) + (
            f" (mirror {_short(d.locked.mirror_digest)})" if d.locked.mirror_digest else ""
        )
        lines.append(f"! differs  {d.locked.ref}  locked {pinned}, server has {_short(d.found)}")
    if drift.extra:
        lines.append(f"  (not locked, fine: {', '.join(drift.extra)})")
    verdict = (
        f"{host} matches the lock"
        if drift.clean
        else f"{host} does not match the lock: {len(drift.missing)} missing, {len(drift.differs)} with another digest"
    )
    return "\n".join([verdict, *lines])
