"""The values a promotion installs: one merged dict (environment file, --values files, the lock), and parity.

pyhelm3 merges several value dicts by concatenating lists, unlike `helm -f`; ``merge`` does what `helm -f` does
and the pipeline hands Helm one dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from app.gateway import OllamaGateway
from app.lock import Lock, compare, describe
from scripts.paths import CHART, STACKS
from scripts.promote import images
from scripts.promote.errors import ParityFailed, PromoteError

VALUES = {"kind": ("local/values.yaml",), "sim": ("sim/values.yaml",), "prod": ("prod/values.yaml",)}
"""Each target's values files, relative to stacks/, layered on the chart's defaults."""
REHEARSAL = ("prod/values.yaml", "prod/values-rehearsal.yaml")
"""`promote --to kind --rehearse-prod`: production's values, sized for the GPU-shaped KIND node."""


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge values the way `helm -f a -f b` does: maps merge key by key, anything else (lists too) is
    replaced by the later layer."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            elif isinstance(value, Mapping):
                merged[key] = merge(value)
            else:
                merged[key] = value
    return merged


def load_yaml(text: str) -> Any:
    """libyaml's safe loader (PyYAML's wheels carry it): pure-Python YAML takes about 50 ms of CPU for the chart's
    values.yaml or a rendered release, libyaml a tenth of that."""
    return yaml.load(text, Loader=yaml.CSafeLoader)


def load_yaml_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def load_values(path: Path) -> dict[str, Any]:
    """A values file as a dict; a missing or malformed one is a PromoteError naming it."""
    try:
        data = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PromoteError(f"cannot read values file {path}: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise PromoteError(f"{path} is not a values file (a mapping)")
    return data or {}


def merged_values(
    to: str, extra: list[Path], lock: Lock, lock_path: Path, *, rehearsal: bool = False
) -> dict[str, Any]:
    """The environment's values file(s) (production's for a rehearsal), then each --values file, then the lock as
    ``models.lock``."""
    files = REHEARSAL if rehearsal else VALUES[to]
    layers = [load_values(STACKS / f) for f in files] + [load_values(p) for p in extra]
    lock_data = load_yaml(lock_path.read_text())
    return merge(*layers, {"models": {"lock": lock_data}})


def effective(values: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's defaults under ``values``: what the release will really use."""
    return merge(load_values(CHART / "values.yaml"), values)


def check_parity(lock: Lock, values: Mapping[str, Any], host: str, from_lock: bool) -> str:
    """Images pinned by digest, and (unless ``from_lock``) the local Ollama at ``host`` serves the locked digests."""
    for part in images.IMAGES:
        digest = images.digest(values, part)
        if not images.pinned(digest):
            raise ParityFailed(
                f"{part}.image.digest is {digest!r}, not a sha256 digest: the {part} image must be "
                "pinned by digest so every cluster runs the same bytes."
            )
    if from_lock:
        return "skipped (--from-lock): the lock is taken as it is"
    gateway = OllamaGateway(host)
    try:
        drift = compare(lock, gateway.list_models())
    finally:
        gateway.close()
    if not drift.clean:
        raise ParityFailed(
            describe(drift, gateway.host) + "\nRe-lock on purpose (`snap2prod models lock`), pull the "
            "locked models, or promote with --from-lock to skip the local check."
        )
    return f"local Ollama {gateway.host} serves the {len(lock.models)} locked model(s)"
