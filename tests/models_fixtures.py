"""Real parts for the model tests: scratch Ollama servers, OCI registries on loopback, and one fault server.

Import the fixtures into a test module (``from tests.models_fixtures import scratch_ollama, ...``). Every process
starts on a free port with its own state under pytest's tmp dir and is stopped by its fixture.

Why a registry *and* a blob store: Ollama's puller (0.24 through 0.34.0) asks a registry for a blob and insists on
a redirect to another host name (``server/download.go`` returns ``resp.Location()`` also for a 200), the way
registry.ollama.ai sends blobs to its CDN. A registry that serves the bytes itself fails with "http: no Location
header in response" (ollama/ollama#7244). So the mirror here is the CNCF distribution registry with its ``redirect``
storage middleware pointing at a static file server over the registry's own storage folder: the product's own
``scripts/kind/blobs.py`` (the one the KIND mirror runs), the production shape of a registry behind a CDN.

The fault server runs as ``python -m tests.models_fixtures fault-blob-store ROOT PORT DROP_AFTER LOG [RATE]``;
the fixtures do that.
"""

from __future__ import annotations

import http.server
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.gateway import OllamaGateway
from scripts import toolchain
from scripts.processes import ManagedProcess, free_port

START_TIMEOUT_S = 60.0


# --- scratch Ollama servers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScratchOllama:
    """An `ollama serve` with its own, initially empty, models folder."""

    host: str
    models: Path
    gateway: OllamaGateway


def start_ollama(state: Path) -> tuple[ScratchOllama, ManagedProcess]:
    port = free_port()
    models = state / "models"
    models.mkdir(parents=True, exist_ok=True)
    host = f"http://127.0.0.1:{port}"
    proc = ManagedProcess("ollama", state)
    env = {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(models), "HOME": str(state), "OLLAMA_NO_CLOUD": "1"}
    proc.start([str(toolchain.binary("ollama")), "serve"], env=env, tie_to_parent=True, host=host)
    try:
        proc.wait_http(f"{host}/api/version", START_TIMEOUT_S)
    except Exception:
        proc.stop()
        raise
    return ScratchOllama(host, models, OllamaGateway(host)), proc


@pytest.fixture
def scratch_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], ScratchOllama]]:
    """A factory: each call starts one more empty Ollama; all are stopped when the test ends."""
    started: list[tuple[ScratchOllama, ManagedProcess]] = []

    def start() -> ScratchOllama:
        started.append(start_ollama(tmp_path_factory.mktemp("scratch-ollama")))
        return started[-1][0]

    yield start
    for server, proc in started:
        server.gateway.close()
        proc.stop()


# --- registries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A registry on loopback; ``address`` is HOST:PORT, ``storage`` its folder (distribution only)."""

    address: str
    storage: Path | None = None

    def namespace(self, ns: str = "snap2prod") -> str:
        return f"{self.address}/{ns}"


def _distribution_config(storage: Path, port: int, redirect_to: str | None) -> str:
    middleware = (
        f"middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {redirect_to}\n"
        if redirect_to
        else ""
    )
    return (
        "version: 0.1\nlog:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"{middleware}http:\n  addr: 127.0.0.1:{port}\n"
    )


def start_distribution(state: Path, storage: Path, *, redirect_to: str | None, name: str) -> Registry:
    """Start a CNCF distribution registry on ``storage``; with ``redirect_to`` its blob GETs redirect there."""
    port = free_port()
    config = state / f"{name}.yml"
    config.write_text(_distribution_config(storage, port, redirect_to))
    proc = ManagedProcess(name, state)
    proc.start([str(toolchain.binary("distribution", "registry")), "serve", str(config)], tie_to_parent=True)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/v2/", START_TIMEOUT_S)
    except Exception:
        proc.stop()
        raise
    return Registry(f"127.0.0.1:{port}", storage)


def start_blob_store(state: Path, root: Path, *, name: str = "blob-store", extra: tuple[str, ...] = ()) -> int:
    """Start the product's blob store (scripts/kind/blobs.py, as its container runs it) over ``root``; with
    ``extra``, this module's fault variant."""
    port = free_port()
    proc = ManagedProcess(name, state)
    repo = Path(__file__).resolve().parent.parent
    if extra:
        cmd = [sys.executable, "-m", "tests.models_fixtures", "fault-blob-store", str(root), str(port), *extra]
    else:
        cmd = [sys.executable, str(repo / "scripts" / "kind" / "blobs.py"), str(root), str(port), "127.0.0.1"]
    proc.start(cmd, env={"PYTHONPATH": str(repo)}, tie_to_parent=True)
    root.mkdir(parents=True, exist_ok=True)
    proc.wait_http(f"http://127.0.0.1:{port}/healthz", START_TIMEOUT_S)
    return port


@dataclass(frozen=True)
class Mirror:
    """A redirecting distribution registry (push and pull work), and a plain one on the same storage."""

    redirecting: Registry
    plain: Registry


@pytest.fixture(scope="module")
def mirror_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    state = tmp_path_factory.mktemp("mirror")
    storage = state / "storage"
    storage.mkdir()
    try:
        blob_port = start_blob_store(state, storage)
        # "localhost", not 127.0.0.1: Ollama follows redirects to the same host name itself and only stops at
        # (and downloads from) one that leads to another host name.
        redirecting = start_distribution(state, storage, redirect_to=f"http://localhost:{blob_port}/", name="registry")
        plain = start_distribution(state, storage, redirect_to=None, name="registry-plain")
        yield Mirror(redirecting, plain)
    finally:
        for pid_file in state.glob("*.pid"):
            ManagedProcess(pid_file.stem, state).stop()


@dataclass(frozen=True)
class FaultMirror:
    """A registry whose blob redirects lead to ``fault_dropping_blob_store``; ``log`` records its requests."""

    registry: Registry
    log: Path
    drop_after: int


@pytest.fixture
def fault_dropping_blob_store(tmp_path: Path, mirror_registry: Mirror) -> Iterator[FaultMirror]:
    """Fault injection: the first download of any blob larger than ``drop_after`` bytes is cut after that
    many bytes (the connection closes mid-body); every later request is served normally, Range included."""
    assert mirror_registry.redirecting.storage is not None
    state = tmp_path / "fault"
    state.mkdir()
    log = state / "requests.jsonl"
    drop_after = 20_000_000
    try:
        port = start_blob_store(
            state, mirror_registry.redirecting.storage, name="fault-blob-store", extra=(str(drop_after), str(log))
        )
        registry = start_distribution(
            state, mirror_registry.redirecting.storage, redirect_to=f"http://localhost:{port}/", name="registry"
        )
        yield FaultMirror(registry, log, drop_after)
    finally:
        for pid_file in state.glob("*.pid"):
            ManagedProcess(pid_file.stem, state).stop()


@pytest.fixture
def fault_slow_blob_store(tmp_path: Path, mirror_registry: Mirror) -> Iterator[Registry]:
    """Fault injection: a slow network (20 MB/s for all downloads together) behind a registry on the mirror's
    storage, so a pull of the test model takes about five seconds; nothing is cut."""
    assert mirror_registry.redirecting.storage is not None
    state = tmp_path / "slow"
    state.mkdir()
    try:
        extra = (str(1 << 40), str(state / "requests.jsonl"), str(20_000_000))
        port = start_blob_store(state, mirror_registry.redirecting.storage, name="fault-slow-blob-store", extra=extra)
        yield start_distribution(
            state, mirror_registry.redirecting.storage, redirect_to=f"http://localhost:{port}/", name="registry"
        )
    finally:
        for pid_file in state.glob("*.pid"):
            ManagedProcess(pid_file.stem, state).stop()


@pytest.fixture(scope="module")
def crane_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """`crane registry serve` (go-containerregistry) with its blobs on disk."""
    state = tmp_path_factory.mktemp("crane")
    port = free_port()
    proc = ManagedProcess("crane", state)
    cmd = [str(toolchain.binary("crane")), "registry", "serve", "--address", f"127.0.0.1:{port}"]
    proc.start([*cmd, "--disk", str(state / "blobs")], tie_to_parent=True)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/v2/", START_TIMEOUT_S)
        yield Registry(f"127.0.0.1:{port}")
    finally:
        proc.stop()


def requests_logged(log: Path) -> list[dict[str, str | None]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


# --- the fault variant of the blob store (run as a module) --------------------------------------------


_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _serve_fault(root: Path, port: int, drop_after: int, log: Path, rate: int = 0) -> None:
    """Cuts the first download of each big blob after ``drop_after`` bytes; with ``rate`` (bytes/s, over all
    connections together) it is also a slow network, so a pull lasts long enough to show its progress."""
    dropped: set[str] = set()
    pace_lock = threading.Lock()
    pace = [time.monotonic()]

    def throttle(n: int) -> None:
        if not rate:
            return
        with pace_lock:
            now = time.monotonic()
            pace[0] = max(now, pace[0]) + n / rate
            wait = pace[0] - now
        time.sleep(wait)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            with log.open("a") as out:
                out.write(json.dumps({"method": self.command, "path": self.path, "range": self.headers.get("Range")}))
                out.write("\n")

        def _file(self) -> Path | None:
            target = (root / self.path.lstrip("/")).resolve()
            return target if target.is_file() and root.resolve() in target.parents else None

        def do_HEAD(self) -> None:
            self._respond(body=False)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                return
            self._respond(body=True)

        def _respond(self, *, body: bool) -> None:
            self._record()
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            match = _RANGE.fullmatch(self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            length = end - start + 1
            self.send_response(206 if match else 200)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if match:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            cut = size > drop_after and self.path not in dropped
            with path.open("rb") as fh:
                fh.seek(start)
                remaining = min(length, drop_after) if cut else length
                while remaining > 0:
                    chunk = fh.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    throttle(len(chunk))
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            if cut:
                dropped.add(self.path)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


def main(argv: list[str]) -> int:
    mode, root, port = argv[0], Path(argv[1]), int(argv[2])
    if mode == "fault-blob-store":
        _serve_fault(root, port, int(argv[3]), Path(argv[4]), int(argv[5]) if len(argv) > 5 else 0)
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "FaultMirror",
    "Mirror",
    "Registry",
    "ScratchOllama",
    "crane_registry",
    "fault_dropping_blob_store",
    "fault_slow_blob_store",
    "mirror_registry",
    "requests_logged",
    "scratch_ollama",
    "start_ollama",
]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
