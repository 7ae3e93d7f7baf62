"""The image-digest rule, in Python once: the chart's schema owns the pattern, this module reads it from there.

Parity (every promotion) refuses an image that is not pinned by a well-formed digest; preflight (prod) also
refuses the documented all-zero placeholder, which is well-formed but no registry serves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from scripts.paths import CHART_IMAGES, SCHEMA

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
