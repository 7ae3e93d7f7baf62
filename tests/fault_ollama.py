"""fault_ollama: a fake Ollama that only injects faults a real server will not produce on demand.

Everything else in the tests talks to the real Ollama.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_CHUNK = {"model": "m", "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": "a "}}
LAST_CHUNK = {
    **GOOD_CHUNK,
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "eval_count": 2,
    "eval_duration": 1_000_000,
    "prompt_eval_count": 3,
}
FAULTS = ("http_404", "http_500", "http_503", "slow_first_byte", "cut_mid_stream", "garbage_line", "no_done")


def _handler(fault: str, delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunk(self, line: bytes) -> None:
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def do_GET(self) -> None:
            self._json(200, {"version": "0.0.0-fault"})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/api/show":
                self._json(200, {"capabilities": ["completion", "vision"], "details": {}, "model_info": {}})
                return
            if fault == "http_404":
                self._json(404, {"error": "model 'm' not found"})
            elif fault == "http_500":
                self._json(500, {"error": "llama runner process has terminated: signal: killed"})
            elif fault == "http_503":
                self._json(503, {"error": "server busy, please try again.  maximum pending requests exceeded"})
            else:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up on purpose
                    self._stream()

        def _stream(self) -> None:
            if fault == "slow_first_byte":
                time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(3):
                self._chunk(json.dumps(GOOD_CHUNK).encode() + b"\n")
                time.sleep(0.02)
            if fault == "cut_mid_stream":
                self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: the body is incomplete
                return
            if fault == "garbage_line":
                self._chunk(b"<html>proxy error</html>\n")
            if fault != "no_done":
                self._chunk(json.dumps(LAST_CHUNK).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def fault_ollama(fault: str, *, delay_s: float = 5.0) -> Iterator[str]:
    """Serve one kind of fault on a free loopback port; yields the base URL."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fault, delay_s))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
