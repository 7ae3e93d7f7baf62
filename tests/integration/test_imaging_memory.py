"""No upload can kill the page's process: the worst picture the page accepts is prepared within the memory budget.

Each picture is prepared in a child process (the real `app.imaging.prepare`, as the page calls it) that reports its
resident memory just before and its peak after, so nothing of this test's own arrays counts. The pictures are the
worst of their kind at the limits: wide (50 megapixels), deep (16 bits per sample), with alpha, a progressive JPEG
whose coefficients libjpeg holds until its last scan, and tiny on disk (flat colour compresses to almost nothing).
The picture that once killed a 1 GiB app pod — 49 megapixels of 16-bit colour with alpha in a 391 KB PNG — is
refused with a sentence, before any pixel is decoded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import imaging
from app.errors import ImageRejected
from tests.conftest import jpeg_bytes

MIB = 1024 * 1024
NATIVE = 672

CHILD = r"""
import json, sys
from pathlib import Path
from app.imaging import prepare
from app.errors import ImageRejected

data = Path(sys.argv[1]).read_bytes()
def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")
before = status_kib("VmRSS")
try:
    image = prepare(data, int(sys.argv[2]))
    outcome = {"sent": [image.sent_width, image.sent_height], "original": [image.original_width, image.original_height]}
except ImageRejected as err:
    outcome = {"refused": str(err)}
peak = status_kib("VmHWM")  # this process's own high-water mark (ru_maxrss would carry the parent's over a fork)
print(json.dumps({**outcome, "before_kib": before, "peak_kib": peak}))
"""


def _prepared_in_a_child(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(NATIVE)], capture_output=True, text=True, timeout=300, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _grown_mib(result: dict[str, object]) -> float:
    peak, before = result["peak_kib"], result["before_kib"]
    assert isinstance(peak, int) and isinstance(before, int)
    return (peak - before) / 1024


def _flat(height: int, width: int, channels: int, dtype: type) -> np.ndarray:
    """A gradient in every channel: real pixel values, and a PNG of it is small (tiny on disk)."""
    top = 65535 if dtype == np.uint16 else 255
    ramp = np.linspace(0, top, width, dtype=np.float64).astype(dtype)
    image = np.empty((height, width, channels), dtype=dtype)
    image[:] = ramp[None, :, None]
    if channels == 4:
        image[:, :, 3] = top // 2  # half transparent: the alpha path is taken
    return image


def _png(path: Path, image: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _jpeg(path: Path, image: np.ndarray, *, progressive: bool) -> Path:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)]
    params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(".jpg", image, params)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _webp(path: Path, image: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 80])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# Each at the limit of its kind (DEFAULT_MAX_DECODED_BYTES, 200 MB decoded), or at 50 megapixels.
WORST: dict[str, Callable[[Path], Path]] = {
    "33 MP of 8-bit colour, PNG": lambda d: _png(d / "wide.png", _flat(4760, 7000, 3, np.uint8)),
    "50 MP of 16-bit grey, PNG": lambda d: _png(d / "grey16.png", _flat(5773, 8660, 1, np.uint16)[:, :, 0]),
    "25 MP of 8-bit colour with alpha, PNG": lambda d: _png(d / "rgba8.png", _flat(5000, 5000, 4, np.uint8)),
    "12.5 MP of 16-bit colour with alpha, PNG": lambda d: _png(d / "rgba16.png", _flat(2500, 5000, 4, np.uint16)),
    "25 MP of colour with alpha, WebP": lambda d: _webp(d / "alpha.webp", _flat(5000, 5000, 4, np.uint8)),
    "29 MP progressive JPEG, 4:4:4": lambda d: _jpeg(
        d / "progressive.jpg", _flat(5400, 5400, 3, np.uint8), progressive=True
    ),
    "50 MP baseline JPEG": lambda d: _jpeg(d / "baseline.jpg", _flat(5773, 8660, 3, np.uint8), progressive=False),
}


@pytest.mark.parametrize("kind", list(WORST))
def test_the_worst_accepted_picture_of_each_kind_is_prepared_within_the_budget(kind: str, tmp_path: Path) -> None:
    path = WORST[kind](tmp_path)
    assert path.stat().st_size <= imaging.DEFAULT_MAX_BYTES
    result = _prepared_in_a_child(path)
    assert "refused" not in result, result
    width, height = result["original"]  # type: ignore[misc]
    assert width * height <= imaging.DEFAULT_MAX_PIXELS
    assert max(result["sent"]) == NATIVE  # type: ignore[type-var]
    assert _grown_mib(result) <= imaging.MEMORY_BUDGET_MIB == 256, (kind, _grown_mib(result))


def test_the_picture_that_killed_a_pod_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    """49 megapixels of 16-bit colour with alpha: 392 MB of pixels, held twice by the decoder; its PNG is small."""
    path = _png(tmp_path / "bomb.png", _flat(7000, 7000, 4, np.uint16))
    assert path.stat().st_size < 2 * MIB
    result = _prepared_in_a_child(path)
    assert result["refused"] == (
        "The image is 7000×7000 pixels of 16-bit colour with alpha: decoding it takes 784.0 MB, and the limit is "
        "200.0 MB. Send a smaller picture."
    )
    assert _grown_mib(result) < 32


def test_a_camera_photo_is_still_described_at_its_native_size() -> None:
    """12 megapixels from a phone: accepted, decoded at a libjpeg scale, sent at the model's size."""
    prepared = imaging.prepare(jpeg_bytes(4032, 3024, seed=12), NATIVE)
    assert (prepared.original_width, prepared.original_height) == (4032, 3024)
    assert (prepared.sent_width, prepared.sent_height) == (672, 504)  # 3024 × 672 / 4032


def test_no_more_than_two_pictures_are_decoded_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    active, most = [0], [0]
    lock = threading.Lock()
    real = imaging._decode

    def decode(*args: object) -> object:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)  # long enough for every thread to be waiting at once
        try:
            return real(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(imaging, "_decode", decode)
    data = jpeg_bytes(seed=5)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            imaging.prepare(data, 224)
        except ImageRejected as err:  # pragma: no cover - a valid JPEG
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and most[0] == 2 == imaging.DECODES_AT_ONCE
