"""The session's captures: what was asked, what came back, and exports a person can keep."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from app.describe import Metrics, Turn

THUMBNAIL_SIDE = 160
CHART_UNITS = ("TTFT ms", "tok/s")


def thumbnail(jpeg: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG for the history list and the JSON export."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return b""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


@dataclass
class Capture:
    """One picture and everything said about it."""

    id: int
    source: str
    model: str
    prompt: str
    image_jpeg: bytes = field(repr=False)
    taken_at: float = field(default_factory=time.time)
    description: str = ""
    metrics: Metrics | None = None
    error: str = ""
    chat: list[Turn] = field(default_factory=list)
    thumbnail_jpeg: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not self.thumbnail_jpeg:
            self.thumbnail_jpeg = thumbnail(self.image_jpeg)

    def as_record(self, *, with_thumbnail: bool) -> dict[str, object]:
        record: dict[str, object] = {
            "id": self.id,
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.taken_at)),
            "source": self.source,
            "model": self.model,
            "prompt": self.prompt,
            "description": self.description,
            "error": self.error,
            "metrics": asdict(self.metrics) if self.metrics else None,
            "chat": [asdict(t) for t in self.chat],
        }
        if with_thumbnail:
            record["thumbnail_jpeg_base64"] = base64.b64encode(self.thumbnail_jpeg).decode()
        return record


MAX_CAPTURES = 50
"""A session keeps its last 50 captures (each holds the picture as sent): a page left in live mode or a script
posting pictures all day must not grow one session's memory without end. Older ones are dropped, and the History
tab says how many."""


@dataclass
class History:
    captures: list[Capture] = field(default_factory=list)
    _next_id: int = 1
    dropped: int = 0
    """Captures dropped from the front to keep MAX_CAPTURES."""

    def add(self, *, source: str, model: str, prompt: str, image_jpeg: bytes) -> Capture:
        capture = Capture(self._next_id, source, model, prompt, image_jpeg)
        self._next_id += 1
        self.captures.append(capture)
        if len(self.captures) > MAX_CAPTURES:
            del self.captures[0]
            self.dropped += 1
        return capture

    @property
    def latest(self) -> Capture | None:
        return self.captures[-1] if self.captures else None

    def clear(self) -> None:
        self.captures.clear()
        self.dropped = 0

    def metrics_rows(self) -> list[dict[str, float | int | str]]:
        """One row per described capture, for the session chart."""
        return [
            {"capture": c.id, "model": c.model, "TTFT ms": c.metrics.ttft_ms, "tok/s": c.metrics.tokens_per_s}
            for c in self.captures
            if c.metrics is not None
        ]

    def metrics_series(self) -> dict[str, list[dict[str, float | int]]]:
        """The session chart's data, one series per unit (a chart each: ms and tok/s differ by 100×)."""
        rows = self.metrics_rows()
        return {unit: [{"capture": int(r["capture"]), unit: float(r[unit])} for r in rows] for unit in CHART_UNITS}

    def export_json(self) -> bytes:
        records = [c.as_record(with_thumbnail=True) for c in self.captures]
        return json.dumps({"snap2prod_history": 1, "captures": records}, indent=2).encode()

    def export_zip(self) -> bytes:
        """The full-size pictures as sent to the model, plus history.json without thumbnails."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            records = [c.as_record(with_thumbnail=False) for c in self.captures]
            for c, record in zip(self.captures, records, strict=True):
                record["image"] = f"capture-{c.id:03d}.jpg"
                zf.writestr(str(record["image"]), c.image_jpeg)
            zf.writestr("history.json", json.dumps({"snap2prod_history": 1, "captures": records}, indent=2))
        return buf.getvalue()
