"""Live mode describes the newest frame, never a queue of stale ones: against the real Ollama and vision model.

The check that matters is observed from outside: the producer records every frame it submits under a lock,
and the describer's work function, when it starts on a frame, reads under the same lock what was submitted
last. A queue (even a two-place one) fails it, since it would start on a frame older than the newest.
"""

from __future__ import annotations

import itertools
import threading
import time

from app import describe as uc
from app.gateway import OllamaGateway
from app.imaging import prepare
from app.live import LatestOnly, LiveDescriber
from tests import colour_pictures as pictures
from tests.conftest import jpeg_bytes
from tests.fault_ollama import fault_ollama

NATIVE = 224
FIRST_WORDS = 8


def test_latest_only_keeps_the_newest_and_counts_the_replaced() -> None:
    box: LatestOnly[int] = LatestOnly()
    for i in range(5):
        box.put(i)
    assert box.pending == 1
    taken = box.take(0)
    assert taken is not None and taken.item == 4
    assert box.dropped == 4 and box.pending == 0
    assert box.take(0.01) is None


def test_each_described_frame_is_the_newest_submitted_when_its_description_started(
    gateway: OllamaGateway, vision_model: str
) -> None:
    frames = [prepare(jpeg_bytes(320, 240, seed=i), NATIVE) for i in range(40)]
    lock = threading.Lock()
    submitted: list[int] = []
    started: list[tuple[int, int, int]] = []  # (frame, newest submitted, frames waiting) when its work began

    def work(index: int) -> str:
        with lock:
            started.append((index, submitted[-1], live.inbox.pending))
        # the scheduling is under test, not the answer: the first words, then the stream is let go (Ollama stops)
        stream = iter(uc.describe(gateway, frames[index], vision_model, "Describe this picture"))
        try:
            return "".join(itertools.islice(stream, FIRST_WORDS))
        finally:
            stream.close()

    live: LiveDescriber[int, str] = LiveDescriber(work)
    uc.describe(gateway, frames[0], vision_model, "Describe this picture").text()  # load the model first
    live.start()
    try:
        for i in range(len(frames)):
            with lock:
                live.inbox.put(i)
                submitted.append(i)
            time.sleep(0.05)
        deadline = time.monotonic() + 120
        while (live.inbox.pending or live.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        live.stop()

    for index, newest, waiting in started:
        # The frame taken is the newest; a newer one may have arrived in the instant between the take and
        # the work starting, and then it is the one waiting.
        assert index == newest or (index == newest - 1 and waiting == 1), (index, newest, waiting)
    described = [index for index, _, _ in started]
    assert described == sorted(set(described)), "each frame at most once, in order"
    assert described[-1] == len(frames) - 1, "the last frame submitted is described"
    assert 2 <= len(described) < len(frames), "descriptions are slower than frames: some were replaced"
    assert live.inbox.dropped + len(described) == len(frames)
    assert live.described == len(described)
    assert live.last is not None and not live.last.error and live.last.result


def test_an_error_in_live_mode_is_kept_and_the_next_frame_still_runs() -> None:
    with fault_ollama("http_503") as url:
        gw = OllamaGateway(url)
        live: LiveDescriber[bytes, str] = LiveDescriber(
            lambda frame: uc.describe(gw, prepare(frame, 56), "m", "Describe").text()
        ).start()
        live.inbox.put(jpeg_bytes(seed=1))
        deadline = time.monotonic() + 5
        while live.described < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        live.inbox.put(jpeg_bytes(seed=2))
        while live.described < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        live.stop()
    assert live.described == 2
    assert live.last is not None
    assert live.last.error == (
        f"Ollama at {url} is busy (its request queue is full). Wait a moment and try again, "
        "or raise OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE on the server."
    )


def test_live_mode_describes_the_picture_now_in_front_of_the_camera(gateway: OllamaGateway, vision_model: str) -> None:
    """The camera turns from scene to scene; when it stops, the last description is of the last scene's colour."""
    scenes = ["red", "green", "white", "blue", "black", "yellow"]
    frames = {c: prepare(pictures.jpeg(pictures.photo(c)), NATIVE) for c in scenes}
    live: LiveDescriber[str, str] = LiveDescriber(
        lambda colour: uc.describe(gateway, frames[colour], vision_model, "Describe this picture", max_tokens=48).text()
    )
    live.start()
    try:
        for colour in scenes:
            live.inbox.put(colour)
            time.sleep(0.3)
        deadline = time.monotonic() + 120
        # every scene either described or replaced by a newer one before its turn
        while live.described + live.inbox.dropped < len(scenes) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        live.stop()
    assert live.described + live.inbox.dropped == len(scenes)
    assert live.last is not None and live.last.result is not None, live.last
    assert pictures.names_only(live.last.result, scenes[-1]), live.last.result
