"""The terminal, in one place: consoles for messages (stderr) and results (stdout), a step line per phase,
and progress bars for Ollama's events.

Libraries (scripts.models.library, the pipeline steps) never print bars themselves: they take an ``on_progress``
callback, and the commands pass a ``ProgressBars`` (or nothing, to stay quiet).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.status import Status

from app.gateway import Progress as Event

console = Console(stderr=True)
"""Progress, steps, messages and errors: stderr, so a command's result on stdout stays clean to pipe."""

out = Console()
"""A command's result meant for scripts or a shell (`eval $(snap2prod sim up)`-style lines, status tables)."""


def say(line: str) -> None:
    """One plain progress line (no markup, no highlighting), for library code that reports long work."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


OnProgress = Callable[[str, Event], None]
"""Told about every progress event of a pull, push or create, with the operation's label ("pull NAME")."""


def quiet(label: str, event: Event) -> None:
    """An ``OnProgress`` that shows nothing."""


def elapsed(start: float) -> float:
    """Seconds since ``start`` (time.monotonic), rounded for reports."""
    return round(time.monotonic() - start, 2)


@contextmanager
def step(label: str, timings: dict[str, float] | None = None) -> Iterator[Status]:
    """A spinner while the step runs, then one line with how long it took; ``timings`` records it under the
    label's first word ("preflight: ctx" -> "preflight")."""
    start = time.monotonic()
    try:
        with console.status(label) as status:
            yield status
    finally:
        if timings is not None:
            timings[label.split(":")[0]] = elapsed(start)
    console.print(f"[green]✓[/green] {escape(label)} [dim]{time.monotonic() - start:.1f} s[/dim]", soft_wrap=True)


class ProgressBars:
    """One bar per layer and one status line per operation; call it as an ``OnProgress`` inside ``with``."""

    def __init__(self) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        self._bars = Progress(*columns, console=console, transient=False)
        self._status: dict[str, TaskID] = {}
        self._layers: dict[tuple[str, str], TaskID] = {}
        self.last: dict[str, str] = {}

    def __enter__(self) -> ProgressBars:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        for label, task in self._status.items():
            self._bars.update(task, description=f"{label}: {self.last.get(label) or 'done'}", total=1, completed=1)
        self._bars.stop()

    def __call__(self, label: str, event: Event) -> None:
        if label not in self._status:
            self._status[label] = self._bars.add_task(f"{label}: starting", total=None)
        self.last[label] = event.status
        if event.digest and event.total:
            key = (label, event.digest)
            if key not in self._layers:
                self._layers[key] = self._bars.add_task(f"{label} {event.digest[7:19]}", total=event.total)
            self._bars.update(self._layers[key], completed=event.completed)
        else:
            self._bars.update(self._status[label], description=f"{label}: {event.status}")


def show(events: Iterable[Event], label: str) -> str:
    """Render a stream of progress events as bars; returns the last status ("success")."""
    last = ""
    with ProgressBars() as bars:
        bars(label, Event(status="starting"))
        for event in events:
            last = event.status
            bars(label, event)
    return last
