"""Pictures of known dominant colour, and the test of an answer about them.

The synthetic vision model names a picture's colour (scripts/demo/colour_projector.py); these pictures are made
here, with their colours written out as pixel values, so the tests' expectation never comes from the model's code.
An answer is right when it names the expected colour and none of the other test colours.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

BGR: dict[str, tuple[int, int, int]] = {
    "red": (30, 20, 220),
    "green": (40, 200, 30),
    "blue": (210, 40, 20),
    "yellow": (20, 220, 235),
    "white": (245, 245, 245),
    "black": (12, 10, 8),
}
"""Each test colour as OpenCV pixels (blue, green, red), a little off the pure corner as a camera gives it."""


def plain(colour: str, width: int = 320, height: int = 240) -> np.ndarray:
    """A flat picture of one colour."""
    return np.full((height, width, 3), BGR[colour], np.uint8)


def photo(colour: str, width: int = 320, height: int = 240) -> np.ndarray:
    """A scene dominated by ``colour``: its background, with a grey box, a disc and a bar in other colours (~20 %)."""
    img = plain(colour, width, height)
    others = [c for c in BGR if c != colour]
    cv2.rectangle(img, (width // 10, height // 6), (width // 4, height // 2), (128, 128, 128), -1)
    cv2.circle(img, (width * 3 // 4, height // 3), height // 8, BGR[others[0]], -1)
    cv2.rectangle(img, (width // 2, height * 3 // 4), (width * 9 // 10, height * 5 // 6), BGR[others[1]], -1)
    return img


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def named(answer: str) -> set[str]:
    """The test colours an answer names, as whole words."""
    return {c for c in BGR if re.search(rf"\b{c}\b", answer.lower())}


def names_only(answer: str, colour: str) -> bool:
    return named(answer) == {colour}
