"""Live mode: describe the newest frame, never a queue of stale ones.

While a description runs, a newer frame replaces any older pending one, so the model always works on the
most recent picture and the delay never grows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Stamped(Generic[T]):
    item: T
    captured_at: float  # time.monotonic() when the frame was taken


class LatestOnly(Generic[T]):
    """A one-place mailbox: ``put`` replaces what is waiting; ``take`` waits for something."""

    def __init__(self, on_drop: Callable[[], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._on_drop = on_drop
        self._pending: Stamped[T] | None = None
        self.submitted = 0
        self.dropped = 0

    def put(self, item: T, captured_at: float | None = None) -> None:
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
                if self._on_drop is not None:
                    self._on_drop()
            self._pending = Stamped(item, time.monotonic() if captured_at is None else captured_at)
            self.submitted += 1
            self._cond.notify()

    def take(self, timeout_s: float | None = None) -> Stamped[T] | None:
        with self._cond:
            if self._pending is None:
                self._cond.wait(timeout_s)
            item, self._pending = self._pending, None
            return item

    @property
    def pending(self) -> int:
        with self._cond:
            return 0 if self._pending is None else 1


@dataclass(frozen=True)
class LiveResult(Generic[R]):
    result: R | None
    error: str
    frame_age_s: float  # how old the frame was when its description finished
    finished_at: float


class LiveDescriber(Generic[T, R]):
    """One worker thread that describes the newest frame; results and errors are kept, never raised."""

    def __init__(self, work: Callable[[T], R], on_drop: Callable[[], None] | None = None) -> None:
        self.inbox: LatestOnly[T] = LatestOnly(on_drop)
        self._work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: LiveResult[R] | None = None
        self.described = 0
        self.busy = False

    def start(self) -> LiveDescriber[T, R]:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="live-describer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self.inbox._cond:
            self.inbox._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            frame = self.inbox.take(timeout_s=0.2)
            if frame is None:
                continue
            self.busy = True
            try:
                result: R | None = self._work(frame.item)
                error = ""
            except Exception as err:  # shown on the page; live mode keeps going with the next frame
                result, error = None, str(err)
            finally:
                self.busy = False
            now = time.monotonic()
            self.last = LiveResult(result, error, now - frame.captured_at, now)
            self.described += 1
