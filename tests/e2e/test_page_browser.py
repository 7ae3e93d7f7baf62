"""The page in real Chromium with a fake camera, against a real Ollama that the test stops and restarts."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from scripts import demo, toolchain
from scripts.demo import ollama_server
from scripts.processes import ManagedProcess, free_port
from tests import colour_pictures as pictures
from tests.conftest import ANSWER_TOKENS, jpeg_bytes
from tests.e2e.conftest import CHROMIUM_ARGS

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
WRITE_SCREENSHOT = "SNAP2PROD_WRITE_SCREENSHOT"
"""Set (as `python -m tests.e2e.screenshot` does) to refresh the README's docs/screenshot.png; else a temp file."""
TIMEOUT_MS = 120_000
VIDEO_SHOWS_SCENE = """() => {
  const v = document.querySelector('video');
  if (!v || v.readyState < 2 || !v.videoWidth) return false;
  const c = document.createElement('canvas');
  c.width = 32; c.height = 24;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 32, 24);
  const d = g.getImageData(0, 0, 32, 24).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) sum += Math.max(d[i], d[i + 1], d[i + 2]);
  return sum / (d.length / 4) > 80;
}"""
"""The camera widget's video shows the fake camera's scene, not only "playing": a video can report a frame before
the Y4M's arrives and stay black for a moment, and a photo taken then is black (seen once on KIND). The scene's
brightest channel averages about 190 of 255; a black frame's is near 0."""
TRUNCATED_JPEG = (
    "The JPEG image is incomplete: the file ends before the picture does (probably cut off while uploading or "
    "copying). Take or send the picture again."
)


CAMERA_COLOUR = "blue"
"""What Chromium's fake camera films: a scene dominated by this colour, which the synthetic model must name."""


def write_y4m(path: Path, colour: str = CAMERA_COLOUR, width: int = 640, height: int = 480) -> Path:
    """A one-frame Y4M video of a scene dominated by ``colour`` that Chromium's fake camera plays in a loop."""
    image = pictures.photo(colour, width, height)
    cv2.putText(image, "snap2prod", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
    i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + i420.tobytes())
    return path


@pytest.fixture
def stack(tmp_path: Path, vision_model: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, int]]:
    """Its own Ollama (so the test may stop it) and the page; yields the page URL, the state dir, Ollama's port.

    The page caps each answer at ANSWER_TOKENS, as the AppTest pages do.
    """
    monkeypatch.setenv("SNAP2PROD_MAX_ANSWER_TOKENS", str(ANSWER_TOKENS))
    state, port = tmp_path / "state", free_port()
    host = ollama_server.start(state, port=port, tie_to_parent=True)
    url = demo.start_streamlit(state, free_port(), host, tie_to_parent=True)
    yield url, state, port
    ManagedProcess(demo.STREAMLIT, state).stop()
    ollama_server.stop(state)


@pytest.fixture
def camera_browser(tmp_path: Path, playwright: Playwright) -> Iterator[Browser]:
    video = write_y4m(tmp_path / "camera.y4m")
    browser = playwright.chromium.launch(
        executable_path=str(toolchain.binary("chromium")),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
    )
    yield browser
    browser.close()


def description_text(page: Page) -> str:
    """The streamed text alone: the description container's markdown, without its heading and caption."""
    block = page.locator(".st-key-description")
    caption = block.locator("[data-testid=stCaptionContainer]").all_inner_texts()
    texts = block.locator("[data-testid=stMarkdown]").all_inner_texts()
    return "\n".join(t for t in texts if t not in caption).strip()


def test_take_photo_streams_a_description_errors_are_clear_and_ollama_can_come_back(
    stack: tuple[str, Path, int], camera_browser: Browser, tmp_path: Path
) -> None:
    url, state, port = stack
    context = camera_browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    expect(page.get_by_text("reachable at")).to_be_visible(timeout=TIMEOUT_MS)

    # camera -> description -> metrics
    page.wait_for_function(VIDEO_SHOWS_SCENE, timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Take Photo").click(timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description")).to_contain_text("capture #1", timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-metrics")).to_contain_text("TTFT", timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-metrics")).to_contain_text("tok/s")
    assert pictures.names_only(description_text(page), CAMERA_COLOUR), description_text(page)
    shot = SCREENSHOT if os.environ.get(WRITE_SCREENSHOT) else tmp_path / "screenshot.png"
    page.locator("[data-testid=stMain]").evaluate("main => main.scrollTo(0, 0)")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # a second photo: its caption replaces the first one, shown once
    page.get_by_role("button", name="Clear photo").click(timeout=TIMEOUT_MS)
    page.wait_for_function(VIDEO_SHOWS_SCENE, timeout=TIMEOUT_MS)  # the widget restarts the camera after a clear
    page.get_by_role("button", name="Take Photo").click(timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description")).to_contain_text("capture #2 · ", timeout=TIMEOUT_MS)
    # while the answer streams, Streamlit may still show the last run's caption (stale, greyed) until the run ends;
    # once it ends there is one caption (seen under load: both for more than 5 s of streaming)
    captions = page.locator(".st-key-description [data-testid=stCaptionContainer]")
    expect(captions).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description [data-testid=stCaptionContainer]")).to_have_text(
        re.compile(r"^capture #2 · .+ · browser camera$")
    )

    # a corrupt upload: a clear error, and the page still works
    page.get_by_text("Upload", exact=True).click()
    expect(page.get_by_text("20MB per file")).to_be_visible()  # Streamlit's own limit (200MB unset) is the page's
    corrupt = tmp_path / "holiday.jpg"
    corrupt.write_bytes(jpeg_bytes(seed=3)[:400])
    page.locator("input[type=file]").set_input_files(str(corrupt))
    expect(page.locator(".st-key-description [data-testid=stAlert]")).to_have_text(TRUNCATED_JPEG, timeout=TIMEOUT_MS)
    good = tmp_path / "good.png"
    good.write_bytes(pictures.png(pictures.photo("yellow")))
    page.locator("input[type=file]").set_input_files(str(good))
    expect(page.locator(".st-key-description")).to_contain_text("capture #3 · ", timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description [data-testid=stAlert]")).to_have_count(0)
    assert pictures.names_only(description_text(page), "yellow"), description_text(page)  # the upload, not the camera

    # Ollama stops: a clear error, the page stays alive
    ollama_server.stop(state)
    page.get_by_role("button", name="Describe again").click()
    expect(page.locator(".st-key-description")).to_contain_text("capture #4 · ", timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description [data-testid=stAlert]")).to_have_text(
        re.compile(
            "^"
            + re.escape(f"Ollama does not answer at http://127.0.0.1:{port} (")
            + ".+"
            # the page renders the message as Markdown: the backticks become code spans, not text
            + re.escape("). Start it (make demo or snap2prod up does), or point OLLAMA_HOST at a running server.")
            + "$"
        )
    )

    # Ollama comes back on the same address: works again without a reload
    ollama_server.start(state, port=port, tie_to_parent=True)
    page.get_by_role("button", name="Describe again").click()
    expect(page.locator(".st-key-description")).to_contain_text("capture #5 · ", timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-description [data-testid=stAlert]")).to_have_count(0)
    expect(page.locator(".st-key-metrics")).to_contain_text("TTFT")
    assert pictures.names_only(description_text(page), "yellow"), description_text(page)
    context.close()
