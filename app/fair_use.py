"""Fair use: how many answers one person may have running at once, and start per minute, in this app process.

A person is who signed in (the identity the sign-in proxy forwards) or, without sign-in, the client's address.
The counts live in the process: sticky sessions keep a person on one replica, so the limits hold per replica (a
person whose sessions land on two replicas gets each replica's share). Over a limit the request is refused at
once with the wait, never queued: nothing hangs, and the page keeps the prompt and the picture for another try.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from app.errors import OverFairUse

WINDOW_S = 60.0
"""The rate limit's window: answers started in the last minute."""

RUNNING = "running"
RATE = "rate"
REASONS = (RUNNING, RATE)
"""Why a request was refused: the ``reason`` label of ``snap2prod_fair_use_refusals``."""


@dataclass(frozen=True)
class Limits:
    """0 means no limit."""

    running: int = 0
    per_minute: int = 0


def _answers(n: int) -> str:
    return f"{n} answer{'' if n == 1 else 's'}"


class FairUse:
    """Per-person counters for one process; every method is safe to call from any thread.

    ``on_refusal`` hears the reason of every refusal (the metrics count them). A person's entry is dropped once
    nothing of theirs runs and their last start left the window, so the table holds only recent people.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._on_refusal = on_refusal
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._starts: dict[str, deque[float]] = {}

    def _forget_the_idle(self, now: float) -> None:
        for who in list(self._starts):
            starts = self._starts[who]
            while starts and now - starts[0] >= WINDOW_S:
                starts.popleft()
            if not starts and not self._running.get(who):
                del self._starts[who]
                self._running.pop(who, None)

    def _refusal(self, who: str, now: float) -> OverFairUse | None:
        running, starts = self._running.get(who, 0), self._starts.get(who, deque())
        if self.limits.running and running >= self.limits.running:
            return OverFairUse(
                RUNNING,
                f"You already have {_answers(running)} running (the limit per person here is "
                f"{self.limits.running}); this one was not started. Try again when one ends — your prompt and "
                "picture are kept.",
            )
        if self.limits.per_minute and len(starts) >= self.limits.per_minute:
            wait = max(1, math.ceil(WINDOW_S - (now - starts[0])))
            return OverFairUse(
                RATE,
                f"You started {_answers(len(starts))} in the last minute (the limit per person here); the next one "
                f"can start in {wait} s. Your prompt and picture are kept.",
            )
        return None

    @contextmanager
    def turn(self, who: str) -> Iterator[None]:
        """Hold one running answer for ``who`` while the block runs; raise ``OverFairUse`` (before anything
        starts) when ``who`` is over a limit."""
        with self._lock:
            now = self._clock()
            self._forget_the_idle(now)
            refused = self._refusal(who, now)
            if refused is None:
                self._running[who] = self._running.get(who, 0) + 1
                self._starts.setdefault(who, deque()).append(now)
        if refused is not None:
            if self._on_refusal is not None:
                self._on_refusal(refused.reason)
            raise refused
        try:
            yield
        finally:
            with self._lock:
                self._running[who] -= 1

    def running(self, who: str) -> int:
        with self._lock:
            return self._running.get(who, 0)

    def people(self) -> int:
        """How many people the table holds (bounded by those active in the last window)."""
        with self._lock:
            self._forget_the_idle(self._clock())
            return len(self._starts)


def person(identity_header: str, headers: Mapping[str, str], address: str | None) -> str:
    """Who a request counts for: ``signed-in:<name>`` from the sign-in proxy's header when one is configured and
    present, else ``client:<address>`` — the first address of X-Forwarded-For (the client behind a proxy), else
    the connection's (None on localhost)."""
    if identity_header and (name := headers.get(identity_header, "").strip()):
        return f"signed-in:{name.lower()}"
    forwarded = headers.get("X-Forwarded-For", "").split(",")[0].strip()
    return f"client:{forwarded or address or 'localhost'}"
