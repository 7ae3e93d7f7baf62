"""The frame pipeline's contract: every input is either refused with a clear ImageRejected or sent correctly.

All pictures are real encoded files, written at test time by OpenCV, Pillow, zipfile or gzip; the pipeline's
own code never writes the inputs it is tested on (EXIF orientation comes from Pillow, so a parser bug cannot
be mirrored by a fixture bug). Expected pixels are built from the spec (which side row 0 and column 0 of the
stored picture show), not from the code under test.
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from app.errors import ImageRejected, Snap2ProdError
from app.imaging import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    Limits,
    PreparedImage,
    exif_orientation,
    fit_long_side,
    prepare,
    prepare_frame,
    probe,
)
from tests.oriented_pictures import pil_bytes, stored_for, with_orientation

U8 = npt.NDArray[np.uint8]
REASONS = {"empty", "not_image", "unsupported", "too_large", "too_many_pixels", "truncated", "damaged"}
NATIVE = 48  # small native size for the corpus, so pictures larger than it are resized and smaller ones are not

# BGR colours of the upright test pattern's quadrants: far apart, so a wrong rotation or flip cannot pass.
RED, GREEN, BLUE, WHITE = (0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255)


# --- real encoders -------------------------------------------------------------------------------


def pattern(width: int, height: int) -> U8:
    """Upright picture: red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = np.zeros((height, width, 3), np.uint8)
    h2, w2 = max(1, height // 2), max(1, width // 2)
    img[:h2, :w2], img[:h2, w2:], img[h2:, :w2], img[h2:, w2:] = RED, GREEN, BLUE, WHITE
    return img


def cv_encode(img: npt.NDArray[np.generic], ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok, ext
    return bytes(buf.tobytes())


def jpeg(img: npt.NDArray[np.generic], quality: int = 95, *params: int) -> bytes:
    return cv_encode(img, ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality, *params)


def png(img: npt.NDArray[np.generic]) -> bytes:
    return cv_encode(img, ".png")


def webp(img: npt.NDArray[np.generic], quality: int = 101) -> bytes:
    """Lossless above quality 100, as OpenCV defines it."""
    return cv_encode(img, ".webp", cv2.IMWRITE_WEBP_QUALITY, quality)


def sent_pixels(result: PreparedImage) -> U8:
    img = cv2.imdecode(np.frombuffer(result.jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None, "the pipeline produced bytes that are not a JPEG"
    return img  # type: ignore[no-any-return]


def quadrant_colours(img: U8) -> list[tuple[int, ...]]:
    """Colour at the centre of each quadrant: top-left, top-right, bottom-left, bottom-right."""
    h, w = img.shape[:2]
    points = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(int(v) for v in img[y, x]) for y, x in points]


def assert_colour(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> None:
    got = tuple(int(v) for v in actual)
    assert max(abs(a - e) for a, e in zip(got, expected, strict=True)) <= tolerance, (got, expected)


def shrunk(reference: U8, width: int, height: int) -> U8:
    """``reference`` area-averaged down to ``width``×``height`` by Pillow, not by the OpenCV call the pipeline uses."""
    resized = Image.fromarray(np.ascontiguousarray(reference)).resize((width, height), Image.Resampling.BOX)
    return np.asarray(resized)


def assert_looks_like(result: PreparedImage, reference: U8, tolerance: float = 10.0) -> None:
    """The sent picture equals the upright reference shrunk to the sent size, up to JPEG loss."""
    sent = sent_pixels(result).astype(np.float32)
    expected = shrunk(reference, result.sent_width, result.sent_height)
    error = float(np.abs(sent - expected.astype(np.float32)).mean())
    assert error <= tolerance, f"mean abs difference {error:.1f} levels"


def assert_fits(original: tuple[int, int], sent: tuple[int, int], native: int) -> None:
    """The sizing rule, stated here rather than taken from ``fit_long_side``: the long side becomes ``native`` (or
    stays, when it is shorter already), and each side is the exactly scaled side rounded to a whole pixel (at
    least one)."""
    (width, height), (sent_w, sent_h) = original, sent
    scale = min(1.0, native / max(width, height))
    assert max(sent_w, sent_h) == min(native, max(width, height)), (original, sent, native)
    assert abs(sent_w - max(1.0, width * scale)) <= 0.5, (original, sent, native)
    assert abs(sent_h - max(1.0, height * scale)) <= 0.5, (original, sent, native)


def reject(data: bytes, **kwargs: object) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        prepare(data, NATIVE, **kwargs)  # type: ignore[arg-type]
    return caught.value


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def sof_offset(data: bytes) -> int:
    """Offset of the SOF marker in an OpenCV-written JPEG (baseline C0 or progressive C2)."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at > 0:
            return at
    raise AssertionError("no SOF marker")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def jpeg_with_app1(data: bytes, tiff: bytes) -> bytes:
    """Insert an APP1 Exif segment right after SOI."""
    body = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def tiff_with_orientation(order: str, value: int, kind: int = 3) -> bytes:
    """A minimal TIFF/EXIF block: header, IFD0 with one Orientation entry."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    packed = struct.pack(order + "H", value) + b"\x00\x00" if kind == 3 else struct.pack(order + "I", value)
    return head + struct.pack(order + "H", 1) + struct.pack(order + "HHI", 0x0112, kind, 1) + packed + b"\x00" * 4


# --- sizes and resizing ----------------------------------------------------------------------------


def test_a_camera_frame_is_sent_with_the_native_size_on_its_long_side() -> None:
    result = prepare(jpeg(pattern(1920, 1080)), 378)
    assert (result.sent_width, result.sent_height) == (378, 213)


def test_a_portrait_picture_keeps_its_aspect_ratio() -> None:
    result = prepare(png(pattern(600, 1000)), 336)
    assert (result.sent_width, result.sent_height) == (202, 336)


@pytest.mark.parametrize(("native", "size"), [(336, (336, 252)), (560, (560, 420)), (672, (672, 504))])
def test_the_native_size_is_an_argument_per_model(native: int, size: tuple[int, int]) -> None:
    """2000×1500 is 4:3, so the short side is three quarters of the native size (worked out by hand)."""
    result = prepare(jpeg(pattern(2000, 1500)), native)
    assert (result.sent_width, result.sent_height) == size
    for got, want in zip(quadrant_colours(sent_pixels(result)), [RED, GREEN, BLUE, WHITE], strict=True):
        assert_colour(got, want)


def test_a_picture_smaller_than_the_native_size_is_never_upscaled() -> None:
    result = prepare(png(pattern(100, 50)), 378)
    assert (result.sent_width, result.sent_height) == (100, 50)
    assert not result.resized


def test_resizing_keeps_what_the_picture_shows() -> None:
    result = prepare(jpeg(pattern(1600, 1200)), 378)
    assert_looks_like(result, pattern(1600, 1200))


def test_a_large_jpeg_decoded_at_reduced_scale_still_shows_the_whole_picture() -> None:
    """libjpeg's 1/8 scaling must cover the frame edge to edge: a bright border has to survive the shrink."""
    img = np.full((2400, 3200, 3), 40, np.uint8)
    img[:, -200:] = WHITE
    sent = sent_pixels(prepare(jpeg(img), 336))
    assert sent.shape == (252, 336, 3)
    assert sent[:, -10:].mean() > 230
    assert sent[:, :300].mean() < 60


def test_jpeg_quality_is_a_setting() -> None:
    data = jpeg(np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    assert prepare(data, 378, quality=95).sent_bytes > 2 * prepare(data, 378, quality=30).sent_bytes


def test_the_result_reports_what_happened() -> None:
    data = with_orientation(stored_for(pattern(800, 600), 6), 6, "JPEG")
    result = prepare(data, 400)
    assert (result.format, result.orientation) == ("JPEG", 6)
    assert (result.original_width, result.original_height, result.original_bytes) == (800, 600, len(data))
    assert (result.sent_width, result.sent_height, result.sent_bytes) == (400, 300, len(result.jpeg))
    assert result.resized
    assert 0 < result.ms < 10_000


def test_the_result_is_immutable() -> None:
    result = prepare(png(pattern(10, 10)), NATIVE)
    with pytest.raises(AttributeError):
        result.sent_width = 1  # type: ignore[misc]


def test_the_result_repr_does_not_dump_the_jpeg_bytes() -> None:
    assert "jpeg=" not in repr(prepare(png(pattern(10, 10)), NATIVE))


@pytest.mark.parametrize(("native", "quality"), [(0, 85), (378, 0), (378, 101)])
def test_nonsense_arguments_are_a_programming_error_not_a_rejection(native: int, quality: int) -> None:
    with pytest.raises(ValueError):
        prepare(png(pattern(10, 10)), native, quality=quality)


# --- EXIF orientation --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_the_picture_upright(orientation: int, fmt: str) -> None:
    upright = pattern(64, 40)
    result = prepare(with_orientation(stored_for(upright, orientation), orientation, fmt), 378)
    assert result.orientation == orientation
    assert (result.sent_width, result.sent_height) == (64, 40)
    for got, want in zip(quadrant_colours(sent_pixels(result)), [RED, GREEN, BLUE, WHITE], strict=True):
        assert_colour(got, want)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_agrees_with_pillows_exif_transpose(orientation: int) -> None:
    """A second, independent oracle: Pillow's own reading of the same file."""
    data = with_orientation(np.ascontiguousarray(pattern(60, 36)[::-1, ::3].repeat(3, axis=1)), orientation, "PNG")
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))[:, :, ::-1]
    assert_looks_like(prepare(data, 378), np.ascontiguousarray(reference), tolerance=4)


def test_orientation_is_applied_after_shrinking_so_sizes_swap_correctly() -> None:
    data = with_orientation(stored_for(pattern(400, 1000), 8), 8, "JPEG")
    result = prepare(data, 100)
    assert (result.original_width, result.original_height) == (400, 1000)
    assert (result.sent_width, result.sent_height) == (40, 100)
    assert_looks_like(result, pattern(400, 1000))


def test_big_endian_exif_is_read_too() -> None:
    data = jpeg_with_app1(jpeg(stored_for(pattern(64, 40), 3)), tiff_with_orientation(">", 3))
    result = prepare(data, 378)
    assert result.orientation == 3
    assert_looks_like(result, pattern(64, 40))


def test_orientation_written_as_long_is_honoured() -> None:
    data = jpeg_with_app1(jpeg(stored_for(pattern(64, 40), 6)), tiff_with_orientation("<", 6, kind=4))
    assert_looks_like(prepare(data, 378), pattern(64, 40))


@pytest.mark.parametrize("value", [0, 9, 255, 65535])
def test_an_out_of_range_orientation_leaves_the_picture_as_stored(value: int) -> None:
    data = jpeg_with_app1(jpeg(pattern(64, 40)), tiff_with_orientation("<", value))
    result = prepare(data, 378)
    assert result.orientation == 1
    assert_looks_like(result, pattern(64, 40))


def test_a_picture_without_exif_is_left_as_stored() -> None:
    result = prepare(jpeg(pattern(64, 40)), 378)
    assert result.orientation == 1
    assert_looks_like(result, pattern(64, 40))


# --- pixel formats ---------------------------------------------------------------------------------------


def test_a_grayscale_jpeg_is_sent_as_the_same_grays() -> None:
    gray = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (32, 1))
    assert_looks_like(prepare(jpeg(gray), 378), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), tolerance=3)


def test_transparent_pixels_become_white_not_black() -> None:
    """Transparent PNG pixels often hold black RGB; a model should see the white page a person sees."""
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[:, :20] = (0, 0, 255, 255)  # opaque red on the left, fully transparent black on the right
    sent = sent_pixels(prepare(png(bgra), 378))
    assert_colour(tuple(sent[20, 5]), RED, tolerance=8)
    assert_colour(tuple(sent[20, 35]), WHITE, tolerance=8)


def test_half_transparent_pixels_are_blended_with_white() -> None:
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[:] = (100, 150, 200, 128)
    assert_colour(tuple(sent_pixels(prepare(png(bgra), 378))[20, 20]), (177, 202, 227), tolerance=4)


def test_a_camera_frame_with_alpha_is_composited_over_white() -> None:
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[:] = (100, 150, 200, 128)
    assert_colour(tuple(sent_pixels(prepare_frame(bgra, 378))[20, 20]), (177, 202, 227), tolerance=4)


def test_transparency_survives_shrinking_without_dark_fringes() -> None:
    """Premultiplied resizing: shrinking must give the same picture as compositing first."""
    bgra = np.zeros((800, 800, 4), np.uint8)
    bgra[:, ::2] = (0, 0, 255, 255)  # opaque red columns between fully transparent black ones
    sent = sent_pixels(prepare(png(bgra), 100))
    assert_colour(tuple(sent[50, 50]), (127, 127, 255), tolerance=8)


def test_gray_with_alpha_png_is_composited_over_white() -> None:
    pil = Image.new("LA", (20, 20), (0, 0))
    sent = sent_pixels(prepare(pil_bytes(pil, "PNG"), 378))
    assert_colour(tuple(sent[10, 10]), WHITE, tolerance=4)


def test_webp_with_alpha_is_composited_over_white() -> None:
    bgra = np.zeros((20, 20, 4), np.uint8)
    assert_colour(tuple(sent_pixels(prepare(webp(bgra), 378))[10, 10]), WHITE, tolerance=4)


def test_sixteen_bit_png_keeps_its_brightness() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    bgr16 = np.dstack([ramp, np.full_like(ramp, 0x8000), 65535 - ramp])
    expected = (bgr16 >> 8).astype(np.uint8)
    assert_looks_like(prepare(png(bgr16), 378), expected, tolerance=3)


def test_sixteen_bit_gray_png_keeps_its_brightness() -> None:
    gray16 = np.full((16, 16), 0x4000, np.uint16)
    assert_colour(tuple(sent_pixels(prepare(png(gray16), 378))[8, 8]), (64, 64, 64), tolerance=2)


def test_sixteen_bit_png_with_alpha_is_composited_over_white() -> None:
    bgra16 = np.zeros((16, 16, 4), np.uint16)
    bgra16[:, :8] = (0, 0, 65535, 65535)
    sent = sent_pixels(prepare(png(bgra16), 378))
    assert_colour(tuple(sent[8, 2]), RED, tolerance=8)
    assert_colour(tuple(sent[8, 13]), WHITE, tolerance=8)


def test_a_cmyk_jpeg_keeps_its_colours() -> None:
    """Print-shop JPEGs are CMYK (Adobe, inverted); decoded naively they come out in the wrong colours."""
    pil = Image.new("CMYK", (32, 16))
    pil.paste((0, 255, 255, 0), (0, 0, 16, 16))  # red: no cyan, full magenta and yellow
    pil.paste((255, 0, 0, 0), (16, 0, 32, 16))  # cyan
    sent = sent_pixels(prepare(pil_bytes(pil, "JPEG", quality=95), 378))
    assert_colour(tuple(sent[8, 4]), RED)
    assert_colour(tuple(sent[8, 28]), (255, 255, 0))


def test_a_palette_png_is_expanded_to_its_colours() -> None:
    pil = Image.fromarray(pattern(32, 32)[:, :, ::-1]).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert_looks_like(prepare(pil_bytes(pil, "PNG"), 378), pattern(32, 32), tolerance=8)


def test_a_progressive_jpeg_is_accepted() -> None:
    data = jpeg(pattern(640, 480), 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert_looks_like(prepare(data, 320), pattern(640, 480))


def test_lossy_webp_is_accepted() -> None:
    assert_looks_like(prepare(webp(pattern(300, 200), 90), 150), pattern(300, 200))


@pytest.mark.parametrize("encode", [jpeg, png, webp], ids=["jpeg", "png", "webp"])
def test_a_one_pixel_picture_is_sent_as_one_pixel(encode: Callable[[U8], bytes]) -> None:
    result = prepare(encode(np.full((1, 1, 3), (10, 200, 30), np.uint8)), 378)
    assert (result.sent_width, result.sent_height) == (1, 1)
    assert_colour(tuple(sent_pixels(result)[0, 0]), (10, 200, 30), tolerance=12)


def test_a_camera_array_is_prepared_without_an_encode_round_trip() -> None:
    result = prepare_frame(pattern(1280, 720), 378)
    assert (result.format, result.original_bytes) == ("frame", 1280 * 720 * 3)
    assert (result.sent_width, result.sent_height) == (378, 213)
    assert_looks_like(result, pattern(1280, 720))


# --- refusals -----------------------------------------------------------------------------------------


def test_an_empty_file_is_refused_as_empty() -> None:
    err = reject(b"")
    assert (err.reason, str(err)) == ("empty", "The file is empty (0 bytes), so there is no picture to describe.")


def test_text_is_refused_as_text() -> None:
    err = reject(b"Meeting notes\n- buy milk\n")
    assert err.reason == "not_image"
    assert str(err).startswith("This file is not an image (it looks like text).")


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: pil_bytes(Image.new("RGB", (8, 8)), "GIF"), "a GIF image"),
        (lambda: cv_encode(pattern(8, 8), ".bmp"), "a BMP image"),
        (lambda: cv_encode(pattern(8, 8), ".tiff"), "a TIFF image"),
        (lambda: cv_encode(pattern(8, 8), ".avif"), "an AVIF image"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "a HEIC image"),
        (lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "a video"),
        (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (lambda: gzip.compress(b"hello"), "a gzip archive"),
        (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG drawing"),
        (lambda: b"<!DOCTYPE html><html><body>hi</body></html>", "a web page"),
    ],
)
def test_other_files_are_refused_by_what_they_are(make: Callable[[], bytes], named: str) -> None:
    err = reject(make())
    assert named in str(err)
    assert "JPEG, PNG or WebP" in str(err)


def test_bytes_that_match_no_format_are_refused() -> None:
    err = reject(bytes(range(256)) * 4)
    assert (err.reason, "its first bytes match no picture format" in str(err)) == ("not_image", True)


def test_defaults_are_20_mb_and_50_megapixels() -> None:
    assert (Limits().max_bytes, Limits().max_pixels) == (DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS) == (20e6, 50e6)


def test_a_file_over_the_byte_limit_is_refused_before_anything_else() -> None:
    err = reject(jpeg(pattern(200, 200)), limits=Limits(max_bytes=1000))
    assert err.reason == "too_large"
    assert "; the limit is 1,000 bytes" in str(err)


def test_the_default_byte_limit_refuses_a_21_mb_file() -> None:
    err = reject(b"\xff\xd8\xff" + bytes(21_000_000))
    assert str(err) == "The file is 21.0 MB; the limit is 20.0 MB. Send a smaller picture."


def test_a_real_picture_over_a_configured_pixel_limit_is_refused() -> None:
    err = reject(png(pattern(200, 100)), limits=Limits(max_pixels=10_000))
    assert err.reason == "too_many_pixels"
    assert "The image is 200×100 pixels (0.02 megapixels); the limit is 0.01 megapixels." in str(err)


def bomb_jpeg(width: int, height: int, progressive: bool = False) -> bytes:
    """A small real JPEG whose frame header claims ``width``×``height``."""
    data = jpeg(pattern(16, 16), 90, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive))
    return patch(data, sof_offset(data) + 5, struct.pack(">HH", height, width))


def bomb_png(width: int, height: int) -> bytes:
    data = png(pattern(16, 16))
    return data[:8] + png_chunk(b"IHDR", struct.pack(">II", width, height) + data[24:29]) + data[33:]


def bomb_webp_lossless(width: int, height: int) -> bytes:
    data = webp(pattern(16, 16))
    at = data.find(b"VP8L") + 8
    bits = struct.unpack_from("<I", data, at + 1)[0] & ~((1 << 28) - 1)
    return patch(data, at + 1, struct.pack("<I", bits | (width - 1) | ((height - 1) << 14)))


def bomb_webp_lossy(width: int, height: int) -> bytes:
    data = webp(pattern(16, 16), 80)
    return patch(data, data.find(b"VP8 ") + 14, struct.pack("<HH", width, height))


@pytest.mark.parametrize(
    "data",
    [bomb_jpeg(30000, 30000), bomb_jpeg(30000, 30000, progressive=True), bomb_png(30000, 30000)],
    ids=["jpeg", "progressive-jpeg", "png"],
)
def test_a_30000_by_30000_header_is_refused_from_the_header_alone(data: bytes) -> None:
    """The file is tiny and its pixel data is for 16×16: only a header parse can know the claimed size."""
    err = reject(data)
    assert err.reason == "too_many_pixels"
    assert str(err).startswith("The image is 30000×30000 pixels (900 megapixels); the limit is 50 megapixels.")


@pytest.mark.parametrize("make", [bomb_webp_lossless, bomb_webp_lossy], ids=["vp8l", "vp8"])
def test_the_largest_webp_header_is_refused_from_the_header_alone(make: Callable[[int, int], bytes]) -> None:
    err = reject(make(16383, 16383))
    assert (err.reason, "16383×16383 pixels" in str(err)) == ("too_many_pixels", True)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (jpeg(pattern(70, 30)), (70, 30)),
        (png(pattern(70, 30)), (70, 30)),
        (webp(pattern(70, 30)), (70, 30)),
        (webp(pattern(70, 30), 80), (70, 30)),
        (pil_bytes(Image.new("RGBA", (70, 30)), "WEBP"), (70, 30)),
        (with_orientation(pattern(70, 30), 6, "WEBP"), (70, 30)),
    ],
    ids=["jpeg", "png", "webp-lossless", "webp-lossy", "webp-alpha", "webp-vp8x-exif"],
)
def test_the_header_probe_reads_the_stored_size(data: bytes, size: tuple[int, int]) -> None:
    info = probe(data)
    assert (info.width, info.height) == size


@pytest.mark.parametrize(
    ("make", "fmt"),
    [
        (lambda: jpeg(pattern(64, 48)), "JPEG"),
        (lambda: png(pattern(64, 48)), "PNG"),
        (lambda: webp(pattern(64, 48)), "WebP"),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_a_file_cut_off_halfway_is_refused_as_incomplete(make: Callable[[], bytes], fmt: str) -> None:
    data = make()
    err = reject(data[: len(data) // 2])
    assert err.reason == "truncated"
    assert str(err).startswith(f"The {fmt} image is incomplete")


def test_an_animated_webp_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    data = pil_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert reject(data).reason == "unsupported"


def test_a_webp_whose_canvas_disagrees_with_its_picture_is_refused() -> None:
    data = with_orientation(pattern(16, 16), 1, "WEBP")
    err = reject(patch(data, data.find(b"VP8X") + 12, (99).to_bytes(3, "little")))
    assert (err.reason, "its canvas is 100×16 but its picture is 16×16" in str(err)) == ("damaged", True)


def test_refusals_are_the_projects_person_facing_error() -> None:
    assert issubclass(ImageRejected, Snap2ProdError)


# --- the corpus: >= 200 inputs, each refused clearly or prepared correctly ------------------------------


@dataclass(frozen=True)
class Case:
    """One input and what must happen: refused for one of ``reasons``, or sent as ``reference`` (upright)."""

    name: str
    data: bytes
    reasons: frozenset[str] = frozenset()
    reference: U8 | None = field(default=None, compare=False)
    limits: Limits | None = None

    @property
    def either(self) -> bool:
        """Mutated files: any clear refusal or any self-consistent picture is right."""
        return not self.reasons and self.reference is None


REJECT_ANY = frozenset(REASONS)
BROKEN = frozenset({"truncated", "damaged"})


def build_corpus() -> list[Case]:
    cases: list[Case] = [Case("empty", b"", frozenset({"empty"}))]
    rng = np.random.default_rng(20261127)
    photo = cv2.GaussianBlur(pattern(64, 48), (9, 9), 0)

    def rejected(name: str, data: bytes, *reasons: str) -> None:
        cases.append(Case(name, data, frozenset(reasons) or REJECT_ANY))

    def accepted(name: str, data: bytes, reference: U8) -> None:
        cases.append(Case(name, data, reference=reference))

    # text and other formats
    texts = [
        b"hello",
        b"\n",
        b"   \t  ",
        b'{"image": null}',
        b"a,b,c\n1,2,3\n",
        b"# Title\n\nSome *markdown*.",
        "Grüße, 日本語のテキスト".encode(),
        b"import os\nprint(os.getcwd())\n",
        b"<p>not html root</p>",
        b"data:image/png;base64,iVBORw0KGgo=",
    ]
    for k, text in enumerate(texts):
        rejected(f"text-{k}", text, "not_image")
    rejected("gif", pil_bytes(Image.new("RGB", (4, 4)), "GIF"), "unsupported")
    rejected("bmp", cv_encode(photo, ".bmp"), "unsupported")
    rejected("tiff", cv_encode(photo, ".tiff"), "unsupported")
    rejected("avif", cv_encode(photo, ".avif"), "unsupported")
    rejected("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n", "not_image")
    rejected("gzip", gzip.compress(jpeg(photo)), "not_image")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("photo.jpg", jpeg(photo))
    rejected("zip-with-a-jpeg-inside", zipped.getvalue(), "not_image")
    rejected("python-executable", Path(sys.executable).read_bytes()[:4096], "not_image")
    rejected("heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "unsupported")
    rejected("zeros", bytes(4096), "not_image")
    rejected("base64-of-a-jpeg", __import__("base64").b64encode(jpeg(photo)), "not_image")

    # random bytes, plain and behind each accepted signature
    for k in range(40):
        rejected(f"random-{k}", rng.integers(0, 256, int(rng.integers(1, 4096)), dtype=np.uint8).tobytes())
    for signature, fmt in ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png")):
        for k in range(20):
            tail = rng.integers(0, 256, int(rng.integers(0, 2048)), dtype=np.uint8).tobytes()
            rejected(f"{fmt}-signature-then-random-{k}", signature + tail)
    for k in range(20):
        tail = rng.integers(0, 256, int(rng.integers(0, 2048)), dtype=np.uint8).tobytes()
        rejected(f"webp-signature-then-random-{k}", b"RIFF" + struct.pack("<I", len(tail) + 4) + b"WEBP" + tail)

    # files cut off at many points
    whole = {
        "jpeg": jpeg(photo),
        "progressive-jpeg": jpeg(photo, 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "png": png(photo),
        "webp-lossless": webp(photo),
        "webp-lossy": webp(photo, 80),
    }
    for fmt, data in whole.items():
        for cut in np.linspace(1, len(data) - 13, 12).astype(int):
            rejected(f"{fmt}-cut-at-{cut}-of-{len(data)}", data[:cut], "truncated", "damaged", "not_image")

    # pixel bombs
    for w, h in ((30000, 30000), (65535, 65535), (60000, 1000)):
        rejected(f"jpeg-bomb-{w}x{h}", bomb_jpeg(w, h), "too_many_pixels")
        rejected(f"progressive-jpeg-bomb-{w}x{h}", bomb_jpeg(w, h, True), "too_many_pixels")
        rejected(f"png-bomb-{w}x{h}", bomb_png(w, h), "too_many_pixels")
    rejected("png-bomb-2^31", bomb_png(2**31 - 1, 2**31 - 1), "too_many_pixels")
    rejected("webp-lossless-bomb", bomb_webp_lossless(16383, 16383), "too_many_pixels")
    rejected("webp-lossy-bomb", bomb_webp_lossy(16383, 16383), "too_many_pixels")
    rejected("png-over-configured-limit", png(photo), "too_many_pixels")
    cases[-1] = Case(cases[-1].name, cases[-1].data, cases[-1].reasons, limits=Limits(max_pixels=1000))
    rejected("jpeg-over-configured-bytes", jpeg(photo), "too_large")
    cases[-1] = Case(cases[-1].name, cases[-1].data, cases[-1].reasons, limits=Limits(max_bytes=100))

    # mutated headers with a known answer
    j, p, w = jpeg(photo), png(photo), webp(photo)
    sof = sof_offset(j)
    rejected("jpeg-sof-width-0", patch(j, sof + 7, b"\x00\x00"), "damaged")
    rejected("jpeg-sof-height-0", patch(j, sof + 5, b"\x00\x00"), "damaged")
    rejected("jpeg-sof-length-0", patch(j, sof + 2, b"\x00\x00"), "damaged")
    rejected("jpeg-sof-length-3", patch(j, sof + 2, b"\x00\x03"), "damaged")
    rejected("jpeg-segment-longer-than-file", patch(j, 4, b"\xff\xff"), "truncated")
    rejected("jpeg-without-sof", j[:sof] + j[sof + 2 + struct.unpack_from(">H", j, sof + 2)[0] :], "damaged")
    rejected("jpeg-eoi-right-after-soi", b"\xff\xd8\xff\xd9", "damaged")
    rejected("jpeg-soi-only", b"\xff\xd8\xff", "truncated")
    rejected("jpeg-garbage-between-segments", patch(j, 20, b"\x00\x00\x00\x00"), "damaged", "truncated")
    rejected("jpeg-without-eoi", j[:-2], "truncated")
    rejected("png-ihdr-width-0", bomb_png(0, 16), "damaged")
    rejected("png-ihdr-renamed", patch(p, 12, b"IHDX"), "damaged")
    rejected("png-ihdr-length-wrong", patch(p, 8, struct.pack(">I", 12)), "damaged")
    rejected("png-signature-only", b"\x89PNG\r\n\x1a\n", "truncated")
    rejected("png-without-iend", p[: p.rfind(b"IEND") - 4], "truncated")
    rejected("png-bad-crc-in-ihdr", patch(p, 29, b"\x00\x00\x00\x00"), "damaged")
    rejected("png-zlib-data-scrambled", patch(p, p.find(b"IDAT") + 8, b"\xff" * 8), "damaged")
    rejected("webp-riff-size-too-big", patch(w, 4, struct.pack("<I", len(w) * 2)), "truncated")
    rejected("webp-vp8l-bad-signature", patch(w, w.find(b"VP8L") + 8, b"\x00"), "damaged")
    rejected("webp-no-image-chunk", patch(w, w.find(b"VP8L"), b"JUNK"), "damaged")
    lossy = webp(photo, 80)
    rejected("webp-vp8-bad-start-code", patch(lossy, lossy.find(b"VP8 ") + 11, b"\x00\x00\x00"), "damaged")
    rejected("webp-vp8-width-0", patch(lossy, lossy.find(b"VP8 ") + 14, b"\x00\x00"), "damaged")

    # EXIF blocks that are broken in every way a parser can trip over: the picture is sent as stored
    for name, tiff in [
        ("empty", b""),
        ("short", b"II*"),
        ("bad-byte-order", b"XX*\x00\x08\x00\x00\x00"),
        ("bad-magic", b"II\x2b\x00\x08\x00\x00\x00"),
        ("ifd-beyond-end", b"II*\x00\xff\xff\xff\x7f"),
        ("entry-count-huge", b"II*\x00\x08\x00\x00\x00\xff\xff"),
        ("entry-cut-short", tiff_with_orientation("<", 6)[:16]),
        ("orientation-as-ascii", tiff_with_orientation("<", 6).replace(b"\x03\x00\x01\x00", b"\x02\x00\x01\x00", 1)),
        ("orientation-0", tiff_with_orientation("<", 0)),
        ("orientation-9", tiff_with_orientation(">", 9)),
    ]:
        accepted(f"jpeg-exif-{name}", jpeg_with_app1(jpeg(photo), tiff), photo)

    # pictures that must be sent, with what they must look like
    upright = pattern(64, 40)
    for fmt in ("JPEG", "PNG", "WEBP"):
        for o in range(1, 9):
            accepted(f"{fmt.lower()}-orientation-{o}", with_orientation(stored_for(upright, o), o, fmt), upright)
    accepted(
        "jpeg-big-endian-exif-6", jpeg_with_app1(jpeg(stored_for(upright, 6)), tiff_with_orientation(">", 6)), upright
    )
    dot = np.full((1, 1, 3), (30, 140, 220), np.uint8)
    for name, data in (("jpeg", jpeg(dot)), ("png", png(dot)), ("webp", webp(dot)), ("webp-lossy", webp(dot, 90))):
        accepted(f"1x1-{name}", data, dot)
    gray = np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (30, 1))
    gray_bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    accepted("gray-jpeg", jpeg(gray), gray_bgr)
    accepted("gray-png", png(gray), gray_bgr)
    accepted("gray-16-bit-png", png(gray.astype(np.uint16) * 257), gray_bgr)
    accepted("color-16-bit-png", png(photo.astype(np.uint16) * 257), photo)
    opaque = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    accepted("rgba-png-opaque", png(opaque), photo)
    accepted("rgba-16-bit-png-opaque", png(opaque.astype(np.uint16) * 257), photo)
    accepted("rgba-webp-opaque", webp(opaque), photo)
    clear = np.zeros((20, 30, 4), np.uint8)
    white = np.full((20, 30, 3), 255, np.uint8)
    accepted("rgba-png-transparent", png(clear), white)
    accepted("la-png-transparent", pil_bytes(Image.new("LA", (30, 20), (0, 0)), "PNG"), white)
    accepted("palette-png", pil_bytes(Image.fromarray(upright[:, :, ::-1]).convert("P"), "PNG"), upright)
    cmyk = Image.new("CMYK", (30, 20), (0, 255, 255, 0))
    accepted("cmyk-jpeg", pil_bytes(cmyk, "JPEG", quality=95), np.full((20, 30, 3), RED, np.uint8))
    accepted("progressive-jpeg", jpeg(photo, 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), photo)
    accepted("jpeg-with-trailing-junk", jpeg(photo) + b"junk after the end marker", photo)
    accepted("jpeg-restart-markers", jpeg(photo, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 2), photo)
    accepted("jpeg-420", jpeg(photo, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420), photo)
    accepted("pillow-jpeg", pil_bytes(Image.fromarray(photo[:, :, ::-1]), "JPEG", quality=95), photo)
    accepted("pillow-webp", pil_bytes(Image.fromarray(photo[:, :, ::-1]), "WEBP", lossless=True), photo)
    wide = pattern(500, 3)
    accepted("wide-strip-jpeg", jpeg(wide), wide)
    tall = pattern(2, 300)
    accepted("tall-strip-png", png(tall), tall)
    big = cv2.resize(photo, (1200, 900), interpolation=cv2.INTER_LINEAR)
    accepted("large-jpeg-reduced-decode", jpeg(big), big)
    accepted("odd-size-jpeg", jpeg(cv2.resize(photo, (397, 211))), cv2.resize(photo, (397, 211)))

    # random byte flips in real files: any clear refusal or any consistent picture
    for base_name, base in (("jpeg", jpeg(photo)), ("png", png(photo)), ("webp", webp(photo))):
        for k in range(12):
            mutated = bytearray(base)
            for _ in range(int(rng.integers(1, 4))):
                mutated[int(rng.integers(2, min(len(base), 200)))] = int(rng.integers(0, 256))
            cases.append(Case(f"{base_name}-flipped-{k}", bytes(mutated)))
    return cases


CORPUS = build_corpus()


def outcome(case: Case) -> PreparedImage | ImageRejected:
    try:
        return prepare(case.data, NATIVE, limits=case.limits)
    except ImageRejected as err:
        return err


def assert_clear(err: ImageRejected) -> None:
    """A person can read it: a known reason, whole sentences, no library internals."""
    message = str(err)
    assert err.reason in REASONS
    assert message.endswith(".") and message[0].isupper() and len(message) > 30, message
    assert not any(word in message for word in ("cv2", "OpenCV", "Traceback", "unpack", "libjpeg", "Errno")), message


def assert_consistent(result: PreparedImage) -> None:
    """The JPEG really is what the report says, at the size the rules give."""
    sent = sent_pixels(result)
    assert sent.shape == (result.sent_height, result.sent_width, 3)
    assert_fits((result.original_width, result.original_height), (result.sent_width, result.sent_height), NATIVE)
    assert result.sent_bytes == len(result.jpeg)


def test_the_corpus_holds_at_least_200_inputs_of_every_kind() -> None:
    refusals = sum(1 for c in CORPUS if c.reasons)
    pictures = sum(1 for c in CORPUS if c.reference is not None)
    mutations = sum(1 for c in CORPUS if c.either)
    assert len(CORPUS) >= 200
    assert (refusals >= 150, pictures >= 40, mutations >= 30) == (True, True, True), (refusals, pictures, mutations)
    assert len({c.name for c in CORPUS}) == len(CORPUS), "case names must be unique"


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_every_input_is_refused_clearly_or_sent_correctly(case: Case) -> None:
    got = outcome(case)
    if case.reasons:
        assert isinstance(got, ImageRejected), f"expected a refusal ({sorted(case.reasons)}), got a picture"
        assert got.reason in case.reasons, str(got)
        assert_clear(got)
    elif case.reference is not None:
        assert isinstance(got, PreparedImage), str(got)
        assert (got.original_width, got.original_height) == (case.reference.shape[1], case.reference.shape[0])
        assert_consistent(got)
        assert_looks_like(got, case.reference, tolerance=12)
    elif isinstance(got, ImageRejected):
        assert_clear(got)
    else:
        assert_consistent(got)


# --- property-based: nothing crashes ---------------------------------------------------------------

SEEDS = {
    "jpeg": jpeg(pattern(40, 30)),
    "progressive-jpeg": jpeg(pattern(40, 30), 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "exif-jpeg": with_orientation(pattern(40, 30), 6, "JPEG"),
    "png": png(pattern(40, 30)),
    "exif-png": with_orientation(pattern(40, 30), 8, "PNG"),
    "webp": webp(pattern(40, 30)),
    "exif-webp": with_orientation(pattern(40, 30), 3, "WEBP"),
}


def either_clear_or_consistent(data: bytes) -> None:
    try:
        result = prepare(data, NATIVE)
    except ImageRejected as err:
        assert_clear(err)
    else:
        assert_consistent(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash_the_pipeline(data: bytes) -> None:
    either_clear_or_consistent(data)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seeds())
def test_mutated_real_files_never_crash_the_pipeline(data: bytes) -> None:
    either_clear_or_consistent(data)


@given(st.binary(max_size=256))
def test_any_exif_block_yields_an_orientation_from_1_to_8(tiff: bytes) -> None:
    assert 1 <= exif_orientation(tiff) <= 8


@given(st.integers(1, 100_000), st.integers(1, 100_000), st.integers(1, 4096))
def test_fitting_never_upscales_and_keeps_the_aspect_ratio(width: int, height: int, native: int) -> None:
    """Each side is the exact scaled side rounded to a whole pixel (never below one pixel)."""
    assert_fits((width, height), fit_long_side(width, height, native), native)


@pytest.mark.parametrize(
    ("width", "height", "native", "fitted"),
    [
        (4000, 3000, 672, (672, 504)),  # 3000 * 672 / 4000 = 504
        (3000, 4000, 672, (504, 672)),
        (1920, 1080, 378, (378, 213)),  # 1080 * 378 / 1920 = 212.625
        (600, 1000, 336, (202, 336)),  # 600 * 336 / 1000 = 201.6
        (5000, 10, 100, (100, 1)),  # 10 * 100 / 5000 = 0.2: never below one pixel
        (672, 500, 672, (672, 500)),  # the long side is the native size already
        (100, 50, 378, (100, 50)),  # smaller than the native size: never upscaled
    ],
)
def test_fitting_gives_the_sizes_worked_out_by_hand(
    width: int, height: int, native: int, fitted: tuple[int, int]
) -> None:
    assert fit_long_side(width, height, native) == fitted
