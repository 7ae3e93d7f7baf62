"""`snap2prod images build`: the app and Ollama images, offline by default."""

from __future__ import annotations

import time

import typer

from scripts.images import build
from scripts.progress import console

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command("build")
def build_command(
    official: bool = typer.Option(
        False, "--official-bases", help="FROM python:3.11-slim-bookworm / debian:bookworm-slim (needs Docker Hub)"
    ),
) -> None:
    """Build both images (cached by content) and record them in build/images.yaml."""
    start = time.monotonic()
    built = build.build_all(official=official)
    for b in built.values():
        how = "cached" if b.cached else f"built in {b.seconds:.0f} s"
        console.print(f"{b.name:<7} {b.ref} {b.id[:19]}… ({how})", soft_wrap=True, highlight=False)
    console.print(f"recorded in {build.images_file()} ({time.monotonic() - start:.1f} s)", highlight=False)


@app.command("push")
def push_command() -> None:
    """Push the built images into the local registry (started if needed); record the digests it serves."""
    from scripts.registry import local, publish

    log = local.state() / "push.log"
    endpoints = local.up(log)
    pushed = publish.push(endpoints.push, log)
    for name in ("app", "ollama"):
        p = pushed[name]
        console.print(f"{name:<7} {p['repository']}:{p['tag']}@{p['digest']}", soft_wrap=True, highlight=False)
    console.print(f"recorded in {build.images_file()}", highlight=False)
