"""Host camera capture for live mode: a background reader that always holds the newest frame.

A camera (or RTSP/HTTP stream) produces frames whether or not anyone looks; OpenCV queues them, so reading one
"now" can hand back a picture from seconds ago. The reader thread drains the source continuously and keeps
only the last frame, so ``latest_frame()`` is always current, and a slow model never builds up a backlog.

When the source stops (end of a file, a dropped stream, a read timeout) the reader reopens it, right away
and then with exponential backoff, up to ``retries`` attempts in a row; after that the camera is unavailable
and ``latest_frame()`` says why. A video file therefore loops, which is what a recorded "live" demo wants.
Timeouts on URLs are enforced by OpenCV's FFmpeg backend (``CAP_PROP_OPEN_TIMEOUT_MSEC`` /
``CAP_PROP_READ_TIMEOUT_MSEC``); local devices (V4L2) open or fail at once.

Every started camera is closed when the interpreter exits: a reader thread still inside OpenCV's
``read()`` when Python finalizes is unwound through C++ code that swallows the unwind, and the whole
process aborts ("FATAL: exception not rethrown") instead of exiting, as the page's server does on Ctrl-C.
"""

from __future__ import annotations

import atexit
import re
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from app.errors import CameraUnavailable
from app.imaging import DEFAULT_JPEG_QUALITY, Image, PreparedImage, encode_jpeg, prepare_frame

Source = int | str
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DEFAULT_FPS = 30.0
_started: weakref.WeakSet[Camera] = weakref.WeakSet()


@atexit.register
def _close_started() -> None:
    for camera in list(_started):
        camera.close()


@dataclass(frozen=True)
class Frame:
    """One BGR frame; ``seq`` counts frames read since the camera started (across reconnects), from 1."""

    image: Image = field(repr=False)
    seq: int
    at: float  # time.monotonic() when it was read

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def jpeg(self, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
        """The frame at full size as JPEG bytes."""
        return encode_jpeg(self.image, quality)

    def prepare(self, native_size: int, quality: int = DEFAULT_JPEG_QUALITY) -> PreparedImage:
        """The frame shrunk to a model's native size, as the frame pipeline sends pictures."""
        return prepare_frame(self.image, native_size, quality=quality)


def describe(source: Source) -> str:
    """How a person recognises the source in a message; passwords in URLs are masked."""
    if isinstance(source, int):
        return f"camera {source}"
    if _URL.match(source):
        return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", source)
    return f"video file {source}"


class Camera:
    """A video source read in the background; use as a context manager or call ``start()`` / ``close()``.

    ``source`` is a device index (``0`` is the first camera, also as the string ``"0"``), a video file path,
    or a URL (``rtsp://``, ``http://``...). ``pace`` plays a file at its own frame rate (the default for
    files), as a camera would deliver it; devices and streams are paced by themselves.
    """

    def __init__(
        self,
        source: Source,
        *,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        pace: bool | None = None,
    ) -> None:
        if isinstance(source, str) and source.strip().isdigit():
            source = int(source)
        if open_timeout_s <= 0 or read_timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeouts must be positive; retries and backoff must not be negative")
        self.source = source
        self.name = describe(source)
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.pace = pace if pace is not None else self._is_file
        self.reconnects = 0  # successful reopens after the source stopped
        self.state = "stopped"  # stopped | reading | reconnecting | failed: what a live page can show
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._frame: Frame | None = None
        self._error: CameraUnavailable | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Camera:
        """Open the source (one attempt, so a wrong address fails at once) and start reading in the background."""
        if self._thread is not None:
            return self
        capture = self._open()
        if capture is None:
            raise CameraUnavailable(self.name, self._why_not_opened())
        self._stop.clear()
        self._error = None
        self._frame = None
        self.state = "reading"
        self._thread = threading.Thread(
            target=self._read_loop, args=(capture,), name=f"camera:{self.name}", daemon=True
        )
        self._thread.start()
        _started.add(self)
        return self

    def close(self) -> None:
        """Stop the reader and release the source; waits at most one read timeout."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.read_timeout_s + self.open_timeout_s + 1)
            self._thread = None
        _started.discard(self)
        if self.state != "failed":
            self.state = "stopped"

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- frames ---------------------------------------------------------------------------------

    def latest_frame(self, newer_than: int = 0, timeout_s: float | None = None) -> Frame:
        """The newest frame with ``seq > newer_than``, waiting up to ``timeout_s`` (default: the read timeout).

        Live mode passes the ``seq`` it last used, so it never describes the same frame twice and never sees
        a queued, stale one. Raises ``CameraUnavailable`` when the source is gone or no frame comes in time.
        """
        wait_s = self.read_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self._thread is None:
                    raise CameraUnavailable(self.name, "the camera is not started")
                if self._frame is not None and self._frame.seq > newer_than:
                    return self._frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraUnavailable(self.name, f"no new frame within {wait_s:g} s")
                self._cond.wait(remaining)

    def latest_jpeg(self, quality: int = DEFAULT_JPEG_QUALITY, native_size: int | None = None) -> bytes:
        """The newest frame as JPEG bytes, shrunk to ``native_size`` on its long side when given."""
        frame = self.latest_frame()
        return frame.prepare(native_size, quality).jpeg if native_size else frame.jpeg(quality)

    # --- reader ---------------------------------------------------------------------------------

    def _read_loop(self, capture: cv2.VideoCapture) -> None:
        interval = 1 / self._fps(capture) if self.pace else 0.0
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, image = capture.read()
                if ok and image is not None and image.size:
                    self._publish(image)
                    if interval:
                        due = max(due + interval, time.monotonic() - interval)
                        self._stop.wait(max(0.0, due - time.monotonic()))
                    continue
                capture.release()
                reopened = self._reopen()
                if reopened is None:
                    return
                capture = reopened
                due = time.monotonic()
        finally:
            capture.release()

    def _reopen(self) -> cv2.VideoCapture | None:
        """Reopen right away, then with doubling waits; ``None`` once ``retries`` attempts in a row failed."""
        self.state = "reconnecting"
        for attempt in range(self.retries):
            if attempt and self._stop.wait(self.backoff_delay(attempt)):
                return None
            if self._stop.is_set():
                return None
            capture = self._open()
            if capture is not None:
                ok, image = capture.read()
                if ok and image is not None and image.size:
                    self.reconnects += 1
                    self.state = "reading"
                    self._publish(image)  # the frame that proved the reopen worked is a frame like any other
                    return capture
                capture.release()
        self._fail(
            f"the source stopped delivering frames and {self.retries} attempt(s) to reconnect failed "
            f"({self._why_not_opened()})"
        )
        return None

    def _publish(self, image: Image) -> None:
        with self._cond:
            seq = (self._frame.seq if self._frame else 0) + 1
            self._frame = Frame(np.ascontiguousarray(image), seq, time.monotonic())
            self._cond.notify_all()

    def backoff_delay(self, attempt: int) -> float:
        """Wait before reconnect ``attempt`` (0-based): none for the first, then base × 2^(n-1), capped."""
        if attempt == 0:
            return 0.0
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))

    def _fail(self, detail: str) -> None:
        with self._cond:
            self.state = "failed"
            self._error = CameraUnavailable(self.name, detail)
            self._cond.notify_all()

    # --- opening --------------------------------------------------------------------------------

    @property
    def _is_file(self) -> bool:
        return isinstance(self.source, str) and not _URL.match(self.source)

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.source, int):
            capture = cv2.VideoCapture(self.source)
            if capture.isOpened():
                capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        elif self._is_file and not Path(self.source).is_file():
            return None
        else:
            timeouts = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                round(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                round(self.read_timeout_s * 1000),
            ]
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, timeouts)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _why_not_opened(self) -> str:
        if isinstance(self.source, int):
            device = Path(f"/dev/video{self.source}")
            if sys.platform.startswith("linux") and not device.exists():
                return (
                    f"there is no {device}: no camera is attached, or this process cannot see it "
                    "(in a container or VM, pass the device through)"
                )
            return (
                "the device exists but could not be opened: another program may be using it, or this user "
                "lacks permission (on Linux, join the 'video' group)"
            )
        if self._is_file:
            path = Path(str(self.source))
            if not path.exists():
                return "the file does not exist"
            if not path.is_file():
                return "it is not a file"
            return "OpenCV cannot read it as a video (unknown format or damaged file)"
        return (
            f"the stream could not be opened and read within {self.open_timeout_s:g} s; check the address, "
            "the network, and that the camera is switched on"
        )

    @staticmethod
    def _fps(capture: cv2.VideoCapture) -> float:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        return fps if 1.0 <= fps <= 240.0 else _DEFAULT_FPS
