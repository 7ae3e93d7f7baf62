"""Progress bars for long work in the terminal (pulls, creates, pushes)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from app.gateway import Progress as Event

console = Console(stderr=True)


def show(events: Iterable[Event], label: str) -> str:
    """Render Ollama progress events as one bar per layer; returns the last status ("success")."""
    last = ""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, TaskID] = {}
        status_task = bars.add_task(f"{label}: starting", total=None)
        for event in events:
            last = event.status
            if event.digest and event.total:
                if event.digest not in tasks:
                    tasks[event.digest] = bars.add_task(f"{label} {event.digest[7:19]}", total=event.total)
                bars.update(tasks[event.digest], completed=event.completed)
            else:
                bars.update(status_task, description=f"{label}: {event.status}")
        bars.update(status_task, description=f"{label}: {last or 'done'}", total=1, completed=1)
    return last
