"""P1: a 1920×1080 camera frame (JPEG q90) to a model-native JPEG, against a plain cv2.imdecode of the same bytes.

The frame is generated, not downloaded, but built to compress like a photo: smooth lighting, blurred texture,
hard-edged shapes, text-like strokes and sensor noise. A flat or pure-noise frame would flatter or punish the
decoder and tell us nothing about real pictures.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from app.imaging import prepare
from bench.report import MIN_RUNS, BenchResult, Spread, alternating_pairs, paired_ratio, timed

RUNS = 41
NATIVE_SIZE = 378
SOURCE_QUALITY = 90
SENT_QUALITY = 85
TARGET_RATIO = 1.1


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
        cv2.putText(
            frame,
            "snap2prod 1080p frame " * 3,
            (40, 80 + 80 * row),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.1,
            (20, 20, 20),
            2,
            cv2.LINE_AA,
        )
    noise = rng.normal(0, 3.5, frame.shape)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def camera_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", camera_frame(), [cv2.IMWRITE_JPEG_QUALITY, SOURCE_QUALITY])
    assert ok
    return bytes(buf.tobytes())


def run(runs: int = RUNS) -> BenchResult:
    data = camera_jpeg()
    buf = np.frombuffer(data, np.uint8)
    height = round(NATIVE_SIZE * 1080 / 1920)

    def fair() -> bytes:
        """The same work written by hand: libjpeg's 1/4 reduced decode, INTER_AREA resize, encode. No checks."""
        image = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_4 | cv2.IMREAD_IGNORE_ORIENTATION)
        small = cv2.resize(image, (NATIVE_SIZE, height), interpolation=cv2.INTER_AREA)
        return bytes(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, SENT_QUALITY])[1].tobytes())

    def naive() -> bytes:
        """What one writes first: full decode, resize, encode (for scale only; not a target)."""
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        small = cv2.resize(image, (NATIVE_SIZE, height), interpolation=cv2.INTER_AREA)
        return bytes(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, SENT_QUALITY])[1].tobytes())

    def pipeline() -> bytes:
        return prepare(data, NATIVE_SIZE, quality=SENT_QUALITY).jpeg

    for fn in (pipeline, fair, naive):
        fn()  # warm up: first-call allocations, lazy library init
    ours, raws = alternating_pairs(timed(pipeline), timed(fair), runs)
    _, naives = alternating_pairs(timed(pipeline), timed(naive), max(3, runs // 4))
    ratio = paired_ratio(ours, raws)
    pipe_ms, fair_ms = Spread.of(ours).scaled(1000), Spread.of(raws).scaled(1000)
    result = prepare(data, NATIVE_SIZE, quality=SENT_QUALITY)
    payload_ratio = result.sent_bytes / len(data)
    same_output = pipeline() == fair()
    return BenchResult(
        id="P1",
        title=f"1920×1080 camera JPEG → {NATIVE_SIZE} px model-native JPEG",
        target=f"≤ {TARGET_RATIO:g} × the same reduced decode + resize + encode by hand",
        met=ratio.median <= TARGET_RATIO and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "pipeline ms": pipe_ms.median,
            "pipeline IQR ms": pipe_ms.iqr,
            "fair baseline ms": fair_ms.median,
            "fair baseline IQR ms": fair_ms.iqr,
            "pipeline / fair": ratio.median,
            "ratio IQR": ratio.iqr,
            "naive full decode ms": Spread.of(naives).median * 1000,
            "raw KB": len(data) / 1000,
            "sent KB": result.sent_bytes / 1000,
            "payload ratio": payload_ratio,
            "same bytes as baseline": "yes" if same_output else "no",
        },
        summary=(
            f"{pipe_ms.text('ms')} vs {fair_ms.text('ms')} by hand: {ratio.text()} ×; payload {payload_ratio:.3f}"
        ),
        notes=(
            f"{runs} pairs, order alternating. The fair baseline does exactly the pipeline's pixel work by hand "
            f"(libjpeg's 1/4 reduced decode, INTER_AREA to {NATIVE_SIZE}×{height}, encode at quality "
            f"{SENT_QUALITY}) and gives the same bytes; the ratio is therefore the cost of the pipeline's safety "
            "work (header parsing, limits, orientation, checks). The naive full-resolution decode is shown for scale "
            "only."
        ),
    )
