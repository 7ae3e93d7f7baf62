"""Pictures as cameras store them: the pixels plus an EXIF Orientation tag, written by Pillow (not by our code).

The stored pixels are derived from the upright picture by the standard's own definition, so a test's expectation
never comes from the code that turns pictures upright.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]


def pil_bytes(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def with_orientation(stored_bgr: U8, orientation: int, fmt: str) -> bytes:
    """The stored pixels encoded by Pillow with an EXIF Orientation tag, as a camera writes them."""
    pil = Image.fromarray(np.ascontiguousarray(stored_bgr[:, :, ::-1]))
    exif = pil.getexif()
    exif[0x0112] = orientation
    options: dict[str, object] = {"exif": exif}
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "WEBP":
        options["lossless"] = True
    return pil_bytes(pil, fmt, **options)


def stored_for(upright: U8, orientation: int) -> U8:
    """What a camera stores for ``upright`` under each EXIF orientation, from the standard's own definition:
    which visual side the stored row 0 and column 0 show (1: top/left, 2: top/right, 3: bottom/right,
    4: bottom/left, 5: left/top, 6: right/top, 7: right/bottom, 8: left/bottom)."""
    flipped_rows, flipped_cols = upright[::-1, :], upright[:, ::-1]
    stored = {
        1: upright,
        2: flipped_cols,
        3: upright[::-1, ::-1],
        4: flipped_rows,
        5: upright.transpose(1, 0, 2),
        6: flipped_cols.transpose(1, 0, 2),
        7: upright[::-1, ::-1].transpose(1, 0, 2),
        8: flipped_rows.transpose(1, 0, 2),
    }[orientation]
    return np.ascontiguousarray(stored)
