"""A static, Range-capable file server over the registry's storage: where the model registry redirects blobs.

Ollama downloads a blob only through a redirect to another host name (its puller's CheckRedirect), the way
registry.ollama.ai hands blobs to a CDN; distribution's `redirect` middleware sends it here. Standard library
only: it runs in the Debian-made Python base image. Usage: ``python3 blobs.py ROOT PORT [HOST]`` (HOST: all
interfaces, as inside its container; the tests give 127.0.0.1).
"""

from __future__ import annotations

import http.server
import re
import signal
import sys
from pathlib import Path

CHUNK = 1 << 20


def handler(root: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Blobs(http.server.BaseHTTPRequestHandler):
        def _file(self) -> Path | None:
            path = (root / self.path.split("?", 1)[0].lstrip("/")).resolve()
            return path if path.is_file() and root in path.parents else None

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, *, body: bool) -> None:
            if self.path == "/healthz":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:
                    start = max(size - int(match.group(2)), 0)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if not body:
                return
            with path.open("rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)

    return Blobs


def main(argv: list[str]) -> int:
    root, port = Path(argv[0]).resolve(), int(argv[1])
    host = argv[2] if len(argv) > 2 else "0.0.0.0"  # noqa: S104 - inside its container
    server = http.server.ThreadingHTTPServer((host, port), handler(root))
    # as a container's PID 1 the kernel ignores SIGTERM without a handler: `podman stop` would wait and kill -9
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
