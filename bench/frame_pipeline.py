"""P1: a 1920×1080 camera frame (JPEG q90) to a model-native JPEG, against a plain cv2.imdecode of the same bytes.

The frame is generated, not downloaded, but built to compress like a photo: smooth lighting, blurred texture,
hard-edged shapes, text-like strokes and sensor noise. A flat or pure-noise frame would flatter or punish the
decoder and tell us nothing about real pictures.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from app.imaging import prepare
from bench.report import BenchResult

RUNS = 41
NATIVE_SIZE = 378
SOURCE_QUALITY = 90
SENT_QUALITY = 85
TARGET_MS = 10.0
TARGET_PAYLOAD_RATIO = 0.1


def camera_frame(width: int = 1920, height: int = 1080, seed: int = 4) -> npt.NDArray[np.uint8]:
    """A photo-like BGR frame: gradients + low-frequency texture + shapes + fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.dstack(
        [
            90 + 110 * (1 - y / height) + 20 * np.sin(x / 170),  # blue: a sky-to-ground falloff
            70 + 80 * (x / width) + 30 * np.cos(y / 90),  # green: side lighting
            60 + 120 * ((x + y) / (width + height)),  # red: warm diagonal
        ]
    )
    texture = cv2.GaussianBlur(rng.normal(0, 1, (height // 4, width // 4)).astype(np.float32), (0, 0), 3)
    img += 45 * cv2.resize(texture, (width, height), interpolation=cv2.INTER_CUBIC)[:, :, None]
    frame = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(14):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(frame, centre, int(rng.integers(20, 220)), colour, -1, cv2.LINE_AA)
    for _ in range(10):
        top_left = (int(rng.integers(0, width - 300)), int(rng.integers(0, height - 200)))
        size = (int(rng.integers(40, 300)), int(rng.integers(30, 200)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(frame, top_left, (top_left[0] + size[0], top_left[1] + size[1]), colour, -1, cv2.LINE_AA)
    for row in range(12):
        cv2.putText(frame, "snap2prod 1080p frame " * 3, (40, 80 + 80 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.1,
                    (20, 20, 20), 2, cv2.LINE_AA)  # fmt: skip
    noise = rng.normal(0, 3.5, frame.shape)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def camera_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", camera_frame(), [cv2.IMWRITE_JPEG_QUALITY, SOURCE_QUALITY])
    assert ok
    return bytes(buf.tobytes())


def _interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Alternate the contenders run by run, so load from other processes hits them alike."""
    for fn in fns.values():
        fn()  # warm up: first-call allocations, lazy library init
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def run() -> BenchResult:
    data = camera_jpeg()
    buf = np.frombuffer(data, np.uint8)

    def naive() -> bytes:
        """What one writes first: full decode, resize, encode."""
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        small = cv2.resize(image, (NATIVE_SIZE, round(NATIVE_SIZE * 1080 / 1920)), interpolation=cv2.INTER_AREA)
        return bytes(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, SENT_QUALITY])[1].tobytes())

    samples = _interleaved(
        {
            "baseline": lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR),
            "pipeline": lambda: prepare(data, NATIVE_SIZE, quality=SENT_QUALITY),
            "naive": naive,
        },
        RUNS,
    )
    medians = {name: statistics.median(s) * 1000 for name, s in samples.items()}
    result = prepare(data, NATIVE_SIZE, quality=SENT_QUALITY)
    payload_ratio = result.sent_bytes / len(data)
    return BenchResult(
        id="P1",
        title=f"1920×1080 camera JPEG → {NATIVE_SIZE} px model-native JPEG",
        target=f"median ≤ {TARGET_MS:g} ms over ≥ 30 runs, payload ≤ 1/10 of the raw JPEG",
        met=medians["pipeline"] <= TARGET_MS and payload_ratio <= TARGET_PAYLOAD_RATIO and RUNS >= 30,
        figures={
            "runs": RUNS,
            "pipeline ms": medians["pipeline"],
            "raw imdecode ms": medians["baseline"],
            "pipeline / raw decode": medians["pipeline"] / medians["baseline"],
            "naive decode+resize+encode ms": medians["naive"],
            "raw KB": len(data) / 1000,
            "sent KB": result.sent_bytes / 1000,
            "payload ratio": payload_ratio,
            "sent size": f"{result.sent_width}×{result.sent_height}",
        },
        notes=(
            f"Medians of {RUNS} interleaved runs. The pipeline parses the header, decodes at libjpeg's reduced "
            f"scale (1/4 for this frame: 480×270 still covers {NATIVE_SIZE} px), resizes with INTER_AREA and "
            f"encodes at quality {SENT_QUALITY}; the raw baseline only decodes the full frame, so a ratio below 1 "
            "means the whole pipeline costs less than a plain decode."
        ),
    )


if __name__ == "__main__":
    print(run())
