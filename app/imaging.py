"""The frame pipeline: untrusted picture bytes in, a small upright JPEG at the model's native size out.

Order matters for safety and speed. The container header is parsed by hand first (JPEG SOF, PNG IHDR, WebP
VP8/VP8L/VP8X), so a pixel bomb is refused from a few bytes, before OpenCV allocates anything. Only JPEG, PNG
and WebP reach the decoder: OpenCV reads many more formats, and each is attack surface we do not need.
EXIF orientation is parsed here too and applied explicitly, because whether ``cv2.imdecode`` rotates depends
on its flags; we always decode with orientation ignored and rotate the (already small) result ourselves.
Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself, which skips most of the IDCT work.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.errors import ImageRejected

# What OpenCV takes and returns: an array of integer or float pixels (we only ever hold uint8 / uint16).
Image = npt.NDArray[np.integer[Any] | np.floating[Any]]

JPEG, PNG, WEBP = "JPEG", "PNG", "WebP"
ACCEPTED = "Send a JPEG, PNG or WebP picture."

DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_DECODED_BYTES = 200_000_000
"""What decoding may hold at once (``ImageInfo.decoded_bytes``), so the worst accepted upload stays within
MEMORY_BUDGET_MIB. A 50-megapixel JPEG fits; a PNG or WebP of 16-bit samples or with alpha gets fewer pixels."""
MEMORY_BUDGET_MIB = 256
"""Peak memory one prepare may add to the page's process (tests/integration/test_imaging_memory.py measures it):
the decoded picture, the upload's bytes (20 MB at most) and strips of a few MB; nothing full-size is copied."""
DECODES_AT_ONCE = 2
"""Pictures decoded at once per process; more sessions wait their turn (a decode takes well under a second), so
N sessions uploading together need DECODES_AT_ONCE × the budget, not N × it."""
DEFAULT_JPEG_QUALITY = 85
_STRIP_ROWS = 256

# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_EXIF_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_DECODES = threading.BoundedSemaphore(DECODES_AT_ONCE)


@dataclass(frozen=True)
class Limits:
    """What a picture may cost before it is decoded; the defaults fit any phone photo with room to spare."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1 or self.max_decoded_bytes < 1:
            raise ValueError(f"limits must be positive, got {self}")


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, read without decoding: pixel size as stored and the EXIF orientation (1 = upright)."""

    format: str
    width: int
    height: int
    orientation: int = 1
    decoded_bytes: int = 0
    """What decoding holds at once, at worst, as measured in tests/integration/test_imaging_memory.py: OpenCV's PNG
    and WebP readers hold the pixels twice (channels × bytes per sample); a baseline JPEG its output at most; a
    progressive JPEG its whole coefficient buffer (libjpeg keeps every scan's until the last) and a scaled output."""
    what: str = ""
    """How the pixels are stored, for a person: "16-bit colour with alpha", "a progressive JPEG"."""

    @property
    def upright_size(self) -> tuple[int, int]:
        """Width and height as a person sees the picture: orientations 5–8 swap the axes."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


@dataclass(frozen=True)
class PreparedImage:
    """The JPEG to send and what happened on the way; sizes are as a person sees the picture (upright)."""

    jpeg: bytes = field(repr=False)
    format: str
    original_width: int
    original_height: int
    original_bytes: int
    sent_width: int
    sent_height: int
    sent_bytes: int
    orientation: int
    ms: float

    @property
    def resized(self) -> bool:
        return (self.sent_width, self.sent_height) != (self.original_width, self.original_height)


# --- public API ---------------------------------------------------------------------------------


def prepare(
    data: bytes,
    native_size: int,
    *,
    quality: int = DEFAULT_JPEG_QUALITY,
    limits: Limits | None = None,
) -> PreparedImage:
    """Decode untrusted ``data``, turn it upright, shrink it to ``native_size`` on its long side, encode JPEG.

    Never upscales: a picture already smaller than the model's native size is sent at its own size.
    Raises ``ImageRejected`` for anything that is not a usable JPEG, PNG or WebP picture.
    """
    started = time.perf_counter()
    _check_target(native_size, quality)
    info = probe(data, limits)
    with _DECODES:
        stored = _decode(data, info, native_size)
        small = _shrink(stored, *fit_long_side(info.width, info.height, native_size), owned=True)
        del stored  # the full-size pixels go before the next picture's turn
    upright = apply_orientation(small, info.orientation)
    jpeg = encode_jpeg(upright, quality)
    width, height = info.upright_size
    return PreparedImage(
        jpeg=jpeg,
        format=info.format,
        original_width=width,
        original_height=height,
        original_bytes=len(data),
        sent_width=upright.shape[1],
        sent_height=upright.shape[0],
        sent_bytes=len(jpeg),
        orientation=info.orientation,
        ms=(time.perf_counter() - started) * 1000,
    )


def prepare_frame(frame: Image, native_size: int, *, quality: int = DEFAULT_JPEG_QUALITY) -> PreparedImage:
    """The same output for a frame that is already decoded (a camera frame, BGR/BGRA/gray, 8 or 16 bit)."""
    started = time.perf_counter()
    _check_target(native_size, quality)
    if frame.ndim not in (2, 3) or frame.size == 0:
        raise ValueError(f"a frame is a 2-D or 3-D pixel array, got shape {frame.shape}")
    height, width = frame.shape[:2]
    small = _shrink(frame, *fit_long_side(width, height, native_size))
    jpeg = encode_jpeg(small, quality)
    return PreparedImage(
        jpeg=jpeg,
        format="frame",
        original_width=width,
        original_height=height,
        original_bytes=frame.nbytes,
        sent_width=small.shape[1],
        sent_height=small.shape[0],
        sent_bytes=len(jpeg),
        orientation=1,
        ms=(time.perf_counter() - started) * 1000,
    )


def probe(data: bytes, limits: Limits | None = None) -> ImageInfo:
    """Identify the format and read size and orientation from the header alone; enforce ``limits``."""
    limits = limits or Limits()
    if len(data) == 0:
        raise ImageRejected("The file is empty (0 bytes), so there is no picture to describe.", "empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"The file is {_mb(len(data))}; the limit is {_mb(limits.max_bytes)}. Send a smaller picture.",
            "too_large",
        )
    kind = sniff(data)
    if kind == JPEG:
        info = _probe_jpeg(data)
    elif kind == PNG:
        info = _probe_png(data)
    else:
        info = _probe_webp(data)
    if info.width * info.height > limits.max_pixels:
        raise ImageRejected(
            f"The image is {info.width}×{info.height} pixels ({_mp(info.width * info.height)} megapixels); "
            f"the limit is {_mp(limits.max_pixels)} megapixels. Send a smaller picture.",
            "too_many_pixels",
        )
    if info.decoded_bytes > limits.max_decoded_bytes:
        raise ImageRejected(
            f"The image is {info.width}×{info.height} pixels of {info.what}: decoding it takes "
            f"{_mb(info.decoded_bytes)}, and the limit is {_mb(limits.max_decoded_bytes)}. Send a smaller picture.",
            "too_many_pixels",
        )
    return info


def sniff(data: bytes) -> str:
    """Name the container from its signature; anything but JPEG, PNG or WebP is refused with what it looks like."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    what = _looks_like(data)
    if what is None:
        raise ImageRejected(
            f"This file is not an image: its first bytes match no picture format. {ACCEPTED}", "not_image"
        )
    if what.endswith(" image"):
        raise ImageRejected(f"This file is {what}, which is not accepted here. {ACCEPTED}", "unsupported")
    raise ImageRejected(f"This file is not an image (it looks like {what}). {ACCEPTED}", "not_image")


def fit_long_side(width: int, height: int, native_size: int) -> tuple[int, int]:
    """The size that puts ``native_size`` on the long side with the aspect ratio kept; never larger than given."""
    long_side = max(width, height)
    if long_side <= native_size:
        return width, height
    scale = native_size / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def apply_orientation(image: Image, orientation: int) -> Image:
    """Turn a stored image upright by its EXIF orientation (1–8; anything else leaves it as stored)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def encode_jpeg(image: Image, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Baseline JPEG of an 8-bit BGR/gray image (16-bit, alpha and gray+alpha are reduced to 8-bit BGR first)."""
    ok, buf = cv2.imencode(".jpg", to_bgr8(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - libjpeg does not fail on a valid 8-bit array
        raise RuntimeError("OpenCV could not encode a JPEG")
    return bytes(buf.tobytes())


def to_bgr8(image: Image) -> Image:
    """8-bit BGR from gray, gray+alpha, BGR or BGRA at 8 or 16 bit; alpha is composited over white."""
    return _shrink(image, image.shape[1], image.shape[0])


# --- decode and resize ----------------------------------------------------------------------------


def _check_target(native_size: int, quality: int) -> None:
    if native_size < 1:
        raise ValueError(f"native_size is a long-side length in pixels, got {native_size}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality is 1..100, got {quality}")


def _decode(data: bytes, info: ImageInfo, native_size: int) -> Image:
    """Decode as stored (orientation ignored); JPEGs at the coarsest libjpeg scale that still covers the target."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if info.format == JPEG:
        factor = _jpeg_scale(info.width, info.height, native_size)
        flags = _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION
        expected = (-(-info.height // factor), -(-info.width // factor))
    else:
        flags = cv2.IMREAD_UNCHANGED  # keeps alpha and 16-bit; never applies EXIF orientation
        expected = (info.height, info.width)
    try:
        image = cv2.imdecode(buf, flags)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ImageRejected(
            f"The {info.format} image is damaged and cannot be decoded. Take or send the picture again.", "damaged"
        )
    if image.shape[:2] != expected:
        raise ImageRejected(
            f"The {info.format} image is damaged: its header says {info.width}×{info.height} pixels but its "
            f"pixel data does not match. Take or send the picture again.",
            "damaged",
        )
    return image


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _jpeg_scale(width: int, height: int, native_size: int) -> int:
    """Largest libjpeg scale-down (8, 4, 2) whose output still covers the target size.

    At scale 1/f each output pixel is the mean of an f×f block, and the last block row and column are padded
    by the encoder; so the short side must also span a few blocks, or a thin strip would be mostly padding.
    """
    target_w, target_h = fit_long_side(width, height, native_size)
    for factor in (8, 4, 2):
        covers = -(-width // factor) >= target_w and -(-height // factor) >= target_h
        if covers and min(width, height) >= 4 * 8 * factor:
            return factor
    return 1


def _shrink(image: Image, width: int, height: int, *, owned: bool = False) -> Image:
    """Resize (area filter, down only) to exactly ``width``×``height``, reduced to 8-bit BGR.

    Alpha is premultiplied before resizing and composited over white after, which is exactly compositing at
    full size (both steps are linear). Pixels are reduced to 8 bits only once small. A decoded picture the caller
    hands over (``owned``) is premultiplied in place, a strip of rows at a time: no full-size copy is made.
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels are 8- or 16-bit unsigned integers, got {image.dtype}")
    resize = image.shape[1] != width or image.shape[0] != height
    if channels in (2, 4):
        img = image if owned else image.copy()
        _premultiply_in_place(img)
        small = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA) if resize else img
        full = _full_scale(small)
        colour = small[:, :, :3] if channels == 4 else cv2.merge([small[:, :, 0]] * 3)
        alpha = small[:, :, channels - 1 : channels].astype(np.uint32)
        over_white = np.minimum(colour.astype(np.uint32) + (full - alpha), full).astype(small.dtype)
        return _to_8bit(over_white)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) if resize else image
    small = _to_8bit(small)
    return cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if channels == 1 else small


def _full_scale(image: Image) -> int:
    return 65535 if image.dtype == np.uint16 else 255


def _premultiply_in_place(image: Image) -> None:
    """Colour × alpha / full scale, rounded, a strip of rows at a time (the temporaries are a strip's size)."""
    channels = image.shape[2]
    full = float(_full_scale(image))
    for top in range(0, image.shape[0], _STRIP_ROWS):
        strip = image[top : top + _STRIP_ROWS]
        alpha = strip[:, :, channels - 1 : channels].astype(np.float32)
        colour = strip[:, :, : channels - 1]
        colour[...] = np.rint(colour * (alpha / full))


def _to_8bit(image: Image) -> Image:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.right_shift(image, 8).astype(np.uint8)
    raise ValueError(f"pixels are 8- or 16-bit unsigned integers, got {image.dtype}")  # pragma: no cover


# --- headers ------------------------------------------------------------------------------------


def _probe_jpeg(data: bytes) -> ImageInfo:
    """Walk the marker segments up to the first scan: frame size from SOFn, orientation from APP1 Exif."""
    size: tuple[int, int] | None = None
    coefficients = 0
    orientation = 1
    seen_exif = False
    n = len(data)
    i = 2
    while True:
        if i >= n:
            raise _truncated(JPEG)
        if data[i] != 0xFF:
            raise _damaged(JPEG, "its segment structure is broken")
        while i < n and data[i] == 0xFF:  # fill bytes may precede any marker
            i += 1
        if i >= n:
            raise _truncated(JPEG)
        marker = data[i]
        i += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (0xD8, 0xD9):
            raise _damaged(JPEG, "it has no picture data before its end marker")
        if i + 2 > n:
            raise _truncated(JPEG)
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise _damaged(JPEG, "a segment has an impossible length")
        end = i + length
        if end > n:
            raise _truncated(JPEG)
        if marker in _SOF_MARKERS and size is None:
            if length < 8:
                raise _damaged(JPEG, "its frame header is too short")
            height, width = struct.unpack_from(">HH", data, i + 3)
            size = (width, height)
            sampling = [(data[c] >> 4, data[c] & 0x0F) for c in range(i + 9, min(end, i + 8 + 3 * data[i + 7]), 3)]
            if marker in _PROGRESSIVE_SOF and sampling and all(h and v for h, v in sampling):
                coefficients = _jpeg_blocks(width, height, sampling)
        elif marker == 0xE1 and not seen_exif and data[i + 2 : i + 8] == b"Exif\x00\x00":
            seen_exif = True
            orientation = exif_orientation(data[i + 8 : end])
        elif marker == 0xDA:
            break
        i = end
    if size is None:
        raise _damaged(JPEG, "it has no frame header, so its size is unknown")
    if data.rfind(b"\xff\xd9", i) < 0:  # entropy-coded data never contains FF D9, so a missing EOI means cut off
        raise _truncated(JPEG)
    return _sized(JPEG, *size, orientation, coefficients=coefficients)


def _jpeg_blocks(width: int, height: int, sampling: list[tuple[int, int]]) -> int:
    """8×8 blocks of every component, each sampled at its (H, V) factor of the largest."""
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    return sum(_ceil(_ceil(width * h, h_max), 8) * _ceil(_ceil(height * v, v_max), 8) for h, v in sampling)


def _ceil(a: int, b: int) -> int:
    return -(a // -b)


def _probe_png(data: bytes) -> ImageInfo:
    """IHDR must be the first chunk; an eXIf chunk before the first IDAT carries the orientation."""
    if len(data) < 33:
        raise _truncated(PNG)
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise _damaged(PNG, "it does not start with an image header (IHDR)")
    width, height = struct.unpack_from(">II", data, 16)
    depth, colour_type = data[24], data[25]
    channels = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}.get(colour_type, 4)  # OpenCV decodes grey+alpha as BGRA
    orientation = 1
    i = 33
    n = len(data)
    while i + 8 <= n:
        length, kind = struct.unpack_from(">I4s", data, i)
        if kind == b"IDAT":
            break
        if kind == b"eXIf" and i + 8 + length <= n:
            orientation = exif_orientation(data[i + 8 : i + 8 + length])
        if kind == b"tRNS":  # a transparent colour or palette entries: decoded with an alpha channel
            channels = 4
        i += 12 + length
    if data.rfind(b"IEND", 33) < 0:
        raise _truncated(PNG)
    return _sized(PNG, width, height, orientation, channels=channels, depth=depth)


def _probe_webp(data: bytes) -> ImageInfo:
    """RIFF chunks: canvas size from VP8X, frame size from the VP8 or VP8L bitstream header, EXIF orientation."""
    (riff_size,) = struct.unpack_from("<I", data, 4) if len(data) >= 8 else (0,)
    if len(data) < 12 or riff_size + 8 > len(data):
        raise _truncated(WEBP)
    end = riff_size + 8
    canvas: tuple[int, int] | None = None
    frame: tuple[int, int] | None = None
    alpha = False
    orientation = 1
    i = 12
    while i + 8 <= end:
        kind, length = struct.unpack_from("<4sI", data, i)
        body = i + 8
        if body + length > end:
            raise _truncated(WEBP)
        if kind == b"VP8X" and length >= 10:
            if data[body] & 0x02:
                raise ImageRejected(f"This is an animated WebP, which is not accepted here. {ACCEPTED}", "unsupported")
            alpha = bool(data[body] & 0x10)
            canvas = (
                1 + int.from_bytes(data[body + 4 : body + 7], "little"),
                1 + int.from_bytes(data[body + 7 : body + 10], "little"),
            )
        elif kind == b"VP8 " and frame is None:
            if length < 10 or data[body + 3 : body + 6] != b"\x9d\x01\x2a":
                raise _damaged(WEBP, "its VP8 frame header is broken")
            w, h = struct.unpack_from("<HH", data, body + 6)
            frame = (w & 0x3FFF, h & 0x3FFF)
        elif kind == b"VP8L" and frame is None:
            if length < 5 or data[body] != 0x2F:
                raise _damaged(WEBP, "its lossless (VP8L) header is broken")
            (bits,) = struct.unpack_from("<I", data, body + 1)
            frame = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            alpha = alpha or bool(bits >> 28 & 1)
        elif kind == b"EXIF":
            exif = data[body : body + length]
            orientation = exif_orientation(exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
        i = body + length + (length & 1)
    if frame is None:
        raise _damaged(WEBP, "it has no image data")
    if canvas is not None and canvas != frame:
        raise _damaged(WEBP, f"its canvas is {canvas[0]}×{canvas[1]} but its picture is {frame[0]}×{frame[1]}")
    return _sized(WEBP, *frame, orientation, channels=4 if alpha else 3)


def exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 when absent, odd or out of range."""
    if len(tiff) < 8:
        return 1
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return 1
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(tiff):
            break
        tag, kind = struct.unpack_from(order + "HH", tiff, entry)
        if tag != _EXIF_ORIENTATION_TAG:
            continue
        if kind == 3:  # SHORT, as the standard says
            value = struct.unpack_from(order + "H", tiff, entry + 8)[0]
        elif kind == 4:  # LONG, written by a few tools
            value = struct.unpack_from(order + "I", tiff, entry + 8)[0]
        else:
            return 1
        return int(value) if 1 <= value <= 8 else 1
    return 1


def _sized(
    kind: str, width: int, height: int, orientation: int, *, channels: int = 3, depth: int = 8, coefficients: int = 0
) -> ImageInfo:
    """``channels`` and ``depth`` as decoded; ``coefficients``: a progressive JPEG's DCT blocks (2 bytes each)."""
    if width == 0 or height == 0:
        raise _damaged(kind, f"its header declares a size of {width}×{height} pixels")
    if coefficients:
        decoded, what = coefficients * 64 * 2 + width * height * 3 // 4, "a progressive JPEG"
    else:
        copies = 1 if kind == JPEG else 2
        decoded = copies * width * height * channels * (2 if depth == 16 else 1)
        colour = "grey" if channels in (1, 2) else "colour"
        what = f"{16 if depth == 16 else 8}-bit {colour}" + (" with alpha" if channels in (2, 4) else "")
    return ImageInfo(kind, width, height, orientation, decoded, what)


def _truncated(kind: str) -> ImageRejected:
    return ImageRejected(
        f"The {kind} image is incomplete: the file ends before the picture does (probably cut off while "
        "uploading or copying). Take or send the picture again.",
        "truncated",
    )


def _damaged(kind: str, why: str) -> ImageRejected:
    return ImageRejected(f"The {kind} image is damaged: {why}. Take or send the picture again.", "damaged")


# --- what a rejected file looks like --------------------------------------------------------------

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
)


def _looks_like(data: bytes) -> str | None:
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            return what
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC image"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video"
    text = _as_text(data[:1024])
    if text is None:
        return None
    lowered = text.lstrip().lower()
    if "<svg" in lowered[:512]:
        return "an SVG drawing"
    if lowered.startswith(("<!doctype html", "<html")):
        return "a web page"
    return "text"


def _as_text(head: bytes) -> str | None:
    """The head as text when it decodes as UTF-8 (a cut multi-byte character at the end is fine) and is printable."""
    if b"\x00" in head:
        return None
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _mp(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}".removesuffix(".0") if pixels >= 100_000 else f"{pixels / 1_000_000:.3g}"
