"""Live mode never queues: against a slow fault_ollama, many frames arrive and at most one ever waits."""

from __future__ import annotations

import threading
import time

from app import describe as uc
from app.gateway import OllamaGateway
from app.imaging import prepare
from app.live import LatestOnly, LiveDescriber
from tests.conftest import jpeg_bytes
from tests.fault_ollama import fault_ollama


def test_latest_only_keeps_the_newest_and_counts_the_replaced() -> None:
    box: LatestOnly[int] = LatestOnly()
    for i in range(5):
        box.put(i)
    assert box.pending == 1
    taken = box.take(0)
    assert taken is not None and taken.item == 4
    assert box.dropped == 4 and box.pending == 0
    assert box.take(0.01) is None


def test_many_frames_against_a_slow_server_at_most_one_pending() -> None:
    frames = [jpeg_bytes(64, 48, seed=i) for i in range(60)]
    with fault_ollama("slow_first_byte", delay_s=0.3) as url:
        gw = OllamaGateway(url)
        described: list[int] = []

        def work(index: int) -> str:
            described.append(index)
            image = prepare(frames[index], 56)
            return uc.describe(gw, image, "m", "Describe this picture").text()

        live: LiveDescriber[int, str] = LiveDescriber(work).start()
        samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                samples.append(live.inbox.pending)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for i in range(len(frames)):
            live.inbox.put(i)
            time.sleep(0.03)
        deadline = time.monotonic() + 10
        while (live.inbox.pending or live.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        sampling.set()
        sampler.join()
        live.stop()

    assert max(samples) <= 1
    assert 2 <= len(described) < len(frames) / 3, described
    assert live.inbox.dropped + len(described) == len(frames)
    assert described[-1] == len(frames) - 1, "the newest frame is the one described last"
    assert described == sorted(described)
    assert live.last is not None and not live.last.error and live.last.result
    assert live.last.frame_age_s < 1.5  # the age of a described frame stays bounded by one description


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
    assert live.last is not None and "busy" in live.last.error
