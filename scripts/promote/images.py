"""The image-digest rule, in Python once: the chart's schema owns the pattern, this module reads it from there.

Parity (every promotion) refuses an image that is not pinned by a well-formed digest; preflight (prod) also
refuses the documented all-zero placeholder, which is well-formed but no registry serves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

from scripts import signing
from scripts.paths import CHART_IMAGES, SCHEMA
from scripts.promote.errors import ParityFailed

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
"""The committed stand-in (stacks/chart/values.yaml; the chart's NOTES warn about it too)."""
IMAGES = CHART_IMAGES


@cache
def digest_pattern() -> re.Pattern[str]:
    """``app.image.digest``'s pattern in values.schema.json (``ollama.image.digest`` has the same)."""
    schema = json.loads(SCHEMA.read_text())
    return re.compile(schema["properties"]["app"]["properties"]["image"]["properties"]["digest"]["pattern"])


def digest(values: Mapping[str, Any], image: str) -> str:
    """``<image>.image.digest`` of a values dict ("" when absent)."""
    return str(values.get(image, {}).get("image", {}).get("digest", ""))


def pinned(value: str) -> bool:
    """A digest the schema accepts: ``sha256:`` and 64 lowercase hex digits."""
    return digest_pattern().fullmatch(value) is not None


def placeholders(values: Mapping[str, Any]) -> list[str]:
    """The ``<image>.image.digest`` keys still holding the all-zero placeholder."""
    return [f"{image}.image.digest" for image in IMAGES if digest(values, image) == PLACEHOLDER_DIGEST]


@dataclass(frozen=True)
class SigningPolicy:
    """What promote verifies: ``ours`` (images we build and sign) against ``pub`` (a path or KMS URI; "" = none
    configured), failing without a key when ``required``."""

    ours: tuple[str, ...]
    pub: str
    required: bool

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> SigningPolicy:
        signing = values.get("signing", {})
        return cls(
            tuple(signing.get("images", ("app",))), str(signing.get("publicKey", "")), bool(signing.get("require"))
        )


def deployed(values: Mapping[str, Any]) -> list[str]:
    """The images the chart runs with these values (no Ollama or gate in keynote mode, no gate when it is off)."""
    ollama = bool(values.get("ollama", {}).get("enabled", True))
    gate = ollama and bool(values.get("apiGate", {}).get("enabled", True))
    return [name for name, on in (("app", True), ("ollama", ollama), ("apiGate", gate)) if on]


def check_provenance(values: Mapping[str, Any], policy: SigningPolicy) -> dict[str, str]:
    """Each deployed image: ours verified against the key (ParityFailed naming the image and the reason), the
    upstream ones trusted by their pinned digest. Returns a line per image for the report."""
    if policy.required and not policy.pub:
        raise ParityFailed(
            "signing.require is true but no public key is configured (signing.publicKey: a path or KMS URI); "
            "nothing was changed."
        )
    ours = [name for name in deployed(values) if name in policy.ours and policy.pub]
    with ThreadPoolExecutor(max(1, len(ours)), thread_name_prefix="cosign") as pool:  # one cosign per image at once
        asked = {name: pool.submit(signing.verify, _ref(values, name), policy.pub) for name in ours}
    out: dict[str, str] = {}
    for name in deployed(values):
        if name in asked:
            try:
                out[name] = asked[name].result()
            except signing.Unverified as err:
                raise ParityFailed(f"image {name} is refused, nothing was changed: {err}") from None
        elif name not in policy.ours:
            digest = values[name]["image"]["digest"]
            out[name] = f"upstream image, trusted by its pinned digest {digest[:19]}… (not signed by us)"
        else:
            out[name] = "not verified: no public key configured (signing.publicKey)"
    return out


def _ref(values: Mapping[str, Any], name: str) -> str:
    image = values[name]["image"]
    return f"{image['repository']}@{image['digest']}"
