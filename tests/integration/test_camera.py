"""Host camera capture against real video: an MJPG .avi written by cv2.VideoWriter at test time, and a real
MJPEG-over-HTTP stream read by OpenCV's FFmpeg backend. The HTTP servers here only inject faults (a stream
that stalls, a server that never answers); the frames they carry are real JPEGs.

Every frame carries its own number as eight black/white blocks, so a test can tell which frame it got.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from app.camera import Camera, describe
from app.errors import CameraUnavailable, Snap2ProdError

FRAMES, WIDTH, HEIGHT, FPS = 12, 160, 120, 30
BLOCK = WIDTH // 8


def numbered_frame(number: int, shade: int = 90) -> npt.NDArray[np.uint8]:
    """A frame whose top half spells ``number`` in binary (white block = 1), robust to JPEG compression."""
    img = np.full((HEIGHT, WIDTH, 3), shade, np.uint8)
    for bit in range(8):
        img[: HEIGHT // 2, bit * BLOCK : (bit + 1) * BLOCK] = 255 if number >> bit & 1 else 0
    return img


def number_of(image: npt.NDArray[np.generic]) -> int:
    row = image[HEIGHT // 4]
    return sum(1 << bit for bit in range(8) if row[bit * BLOCK + BLOCK // 2].mean() > 128)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "numbered.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for n in range(FRAMES):
        writer.write(numbered_frame(n))
    writer.release()
    return path


@pytest.fixture
def own_video(video: Path, tmp_path: Path) -> Path:
    """A private copy a test may delete and restore."""
    return Path(shutil.copy(video, tmp_path / "camera.avi"))


def frames(cam: Camera, until_seq: int, timeout_s: float = 10) -> list[tuple[int, int]]:
    """(seq, number shown) of every frame handed out, asking each time for one newer than the last."""
    seen: list[tuple[int, int]] = []
    seq = 0
    while seq < until_seq:
        frame = cam.latest_frame(newer_than=seq, timeout_s=timeout_s)
        seq = frame.seq
        seen.append((seq, number_of(frame.image)))
    return seen


def wait_for(condition: object, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# --- fault servers ------------------------------------------------------------------------------


class FaultStallingMjpegServer:
    """Serves a real MJPEG stream, but each connection goes silent after ``burst`` frames (a hung camera)."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/stream.mjpg"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, connection: int) -> None:
        with conn, contextlib.suppress(OSError):  # the client may hang up mid-burst
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n")
            for n in range(self.burst):
                body = cv2.imencode(".jpg", numbered_frame(n, shade=40 * connection % 256))[1].tobytes()
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                conn.sendall(head + body + b"\r\n")
                time.sleep(1 / FPS)
            self._stop.wait()  # stall: the connection stays open and sends nothing

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


class FaultSilentServer:
    """Accepts connections and never says a word."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self._held.append(self._sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def fault_stalling_stream() -> Iterator[FaultStallingMjpegServer]:
    server = FaultStallingMjpegServer(burst=5)
    yield server
    server.close()


@pytest.fixture
def fault_silent_server() -> Iterator[FaultSilentServer]:
    server = FaultSilentServer()
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- frames from a video file -------------------------------------------------------------------------


def test_a_video_file_delivers_bgr_frames_of_its_size(video: Path) -> None:
    with Camera(str(video)) as cam:
        frame = cam.latest_frame()
    assert (frame.image.shape, frame.image.dtype, frame.width, frame.height) == ((120, 160, 3), np.uint8, 160, 120)


def test_frames_are_the_videos_frames_in_order(video: Path) -> None:
    with Camera(str(video)) as cam:
        seen = frames(cam, until_seq=FRAMES)
    assert all(shown == seq - 1 for seq, shown in seen), seen


def test_latest_frame_skips_to_the_newest_instead_of_queueing(video: Path) -> None:
    """A slow consumer (a model taking its time) must get the frame of now, not the next one in a backlog."""
    with Camera(str(video)) as cam:
        first = cam.latest_frame()
        time.sleep(0.3)  # ~9 frames at 30 fps
        second = cam.latest_frame(newer_than=first.seq)
    assert second.seq - first.seq >= 3


def test_a_file_is_played_at_its_own_frame_rate(video: Path) -> None:
    """Paced like a camera: nine frames span at least eight frame intervals (one may follow a loop at once)."""
    with Camera(str(video)) as cam:
        got = [cam.latest_frame()]
        while len(got) < 10:
            got.append(cam.latest_frame(newer_than=got[-1].seq))
    assert [f.seq for f in got] == list(range(got[0].seq, got[0].seq + 10))
    assert got[-1].at - got[0].at >= 8 / FPS


def test_a_video_file_loops_by_reconnecting_at_its_end(video: Path) -> None:
    with Camera(str(video), pace=False) as cam:
        seen = frames(cam, until_seq=2 * FRAMES + 3)
        assert cam.reconnects >= 2
    assert all(shown == (seq - 1) % FRAMES for seq, shown in seen), seen


def test_frames_come_as_jpeg_bytes_too(video: Path) -> None:
    with Camera(str(video)) as cam:
        full = cam.latest_jpeg()
        small = cam.latest_jpeg(native_size=64)
    assert cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)


def test_a_frame_is_prepared_at_the_models_native_size(video: Path) -> None:
    with Camera(str(video)) as cam:
        prepared = cam.latest_frame().prepare(80)
    assert (prepared.sent_width, prepared.sent_height, prepared.original_width) == (80, 60, 160)


# --- sources that cannot be opened ------------------------------------------------------------------


def test_a_missing_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable) as caught:
        Camera(str(tmp_path / "nope.avi")).start()
    assert str(caught.value) == f"No pictures from video file {tmp_path / 'nope.avi'}: the file does not exist"


def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.avi"
    text.write_text("not a video at all\n" * 20)
    with pytest.raises(CameraUnavailable, match="OpenCV cannot read it as a video"):
        Camera(str(text)).start()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names the Linux device node")
def test_a_camera_index_without_a_device_names_the_missing_device() -> None:
    with pytest.raises(CameraUnavailable, match=r"^No pictures from camera 63: there is no /dev/video63"):
        Camera(63).start()


def test_a_digit_string_means_a_device_index() -> None:
    assert (Camera("0").source, Camera(" 2 ").name) == (0, "camera 2")


def test_a_closed_port_is_refused() -> None:
    with pytest.raises(CameraUnavailable, match="could not be opened and read within 1 s"):
        Camera(f"rtsp://127.0.0.1:{closed_port()}/live", open_timeout_s=1).start()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_server_that_never_answers_is_given_up_after_the_open_timeout(
    fault_silent_server: FaultSilentServer, scheme: str
) -> None:
    """Without the timeout FFmpeg waits on a silent socket indefinitely; the bound here is 10 × the timeout."""
    started = time.monotonic()
    with pytest.raises(CameraUnavailable, match=r"within 0\.5 s"):
        Camera(f"{scheme}://127.0.0.1:{fault_silent_server.port}/live", open_timeout_s=0.5).start()
    assert time.monotonic() - started < 5


def test_passwords_in_urls_are_masked_in_messages() -> None:
    assert describe("rtsp://admin:s3cret@10.0.0.7:554/stream1") == "rtsp://admin:***@10.0.0.7:554/stream1"


def test_camera_errors_are_the_projects_person_facing_error() -> None:
    assert issubclass(CameraUnavailable, Snap2ProdError)


# --- stalls, reconnects and giving up --------------------------------------------------------------------


def test_a_stalled_stream_is_reopened_after_the_read_timeout(fault_stalling_stream: FaultStallingMjpegServer) -> None:
    with Camera(fault_stalling_stream.url, open_timeout_s=2, read_timeout_s=0.5, backoff_s=0.1) as cam:
        seen = frames(cam, until_seq=12)
        assert cam.reconnects >= 2
    assert fault_stalling_stream.connections >= 3
    numbers = [n for _, n in seen]
    assert any(later < earlier for earlier, later in itertools.pairwise(numbers)), numbers  # a new burst began


def test_the_reconnect_waits_grow_and_are_capped() -> None:
    cam = Camera(0, backoff_s=0.5, backoff_max_s=3.0)
    assert [cam.backoff_delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_source_that_disappears_fails_after_the_bounded_retries(own_video: Path) -> None:
    cam = Camera(str(own_video), retries=3, backoff_s=0.2).start()
    try:
        last = cam.latest_frame()
        own_video.unlink()  # the open file plays to its end; every reopen then fails
        with pytest.raises(CameraUnavailable) as caught:
            while True:
                last = cam.latest_frame(newer_than=last.seq, timeout_s=10)
        failed_at = time.monotonic()
    finally:
        cam.close()
    assert str(caught.value) == (
        f"No pictures from video file {own_video}: the source stopped delivering frames and 3 attempt(s) "
        "to reconnect failed (the file does not exist)"
    )
    assert cam.state == "failed"
    assert failed_at - last.at >= 0.2 + 0.4  # attempts at +0, +0.2, +0.6 s


def test_a_failed_camera_keeps_refusing_even_with_an_old_frame(own_video: Path) -> None:
    cam = Camera(str(own_video), retries=1, pace=False).start()
    try:
        cam.latest_frame()
        own_video.unlink()
        wait_for(lambda: cam.state == "failed")
        with pytest.raises(CameraUnavailable):
            cam.latest_frame()
    finally:
        cam.close()


def test_a_source_that_comes_back_within_the_retries_is_read_again(tmp_path: Path) -> None:
    # Two frames a second, frame 0 held for the first 3 s: a busy machine's late wake-up still sees it (held for
    # 0.5 s, it was once missed in a cold run, the test thread waking after frame 1 had come). 4.5 s in all, so
    # the deleted file, still open, plays to its end well within wait_for's 10 s.
    own_video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(own_video), cv2.VideoWriter.fourcc(*"MJPG"), 2, (WIDTH, HEIGHT))
    for n in [0] * 6 + [1, 2, 3]:
        writer.write(numbered_frame(n))
    writer.release()
    spare = Path(shutil.copy(own_video, tmp_path / "spare.avi"))
    with Camera(str(own_video), retries=6, backoff_s=0.2) as cam:
        cam.latest_frame()
        own_video.unlink()
        wait_for(lambda: cam.state == "reconnecting")
        gone = cam.latest_frame()
        spare.rename(own_video)
        fresh = cam.latest_frame(newer_than=gone.seq, timeout_s=10)
        assert (cam.state, cam.reconnects >= 1) == ("reading", True)
    assert number_of(fresh.image) == 0  # played again from the start


def test_a_closed_camera_hands_out_no_stale_frame(video: Path) -> None:
    cam = Camera(str(video)).start()
    cam.latest_frame()
    cam.close()
    with pytest.raises(CameraUnavailable, match="the camera is not started"):
        cam.latest_frame()
    assert cam.state == "stopped"


def test_no_frame_within_the_wait_is_a_clear_error(fault_stalling_stream: FaultStallingMjpegServer) -> None:
    """The stream stalls after 5 frames; asking for a 50th within 0.3 s cannot succeed."""
    with (
        Camera(fault_stalling_stream.url, read_timeout_s=5) as cam,
        pytest.raises(CameraUnavailable, match=r"no new frame within 0\.3 s"),
    ):
        cam.latest_frame(newer_than=50, timeout_s=0.3)


def test_a_process_that_exits_with_cameras_reading_exits_cleanly(video: Path) -> None:
    """Without the exit hook OpenCV's read() is unwound mid-call at finalization and the process aborts
    ("FATAL: exception not rethrown", exit 134), as the page's server would on Ctrl-C with a host camera."""
    script = (
        "import sys, time\n"
        "from app.camera import Camera\n"
        f"cameras = [Camera({str(video)!r}, pace=False).start() for _ in range(4)]\n"
        "assert all(c.latest_frame() for c in cameras)\n"
        "time.sleep(0.3)\n"
    )
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60
        )
        assert (done.returncode, done.stderr) == (0, "")
