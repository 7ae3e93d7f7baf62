"""snap2prod helm test: real inference on a fixture picture through the app's OLLAMA_HOST, then the app's health.

Runs in the app image (python, standard library only) as the helm test's Pod. Environment: OLLAMA_HOST (the app's
own, from its ConfigMap), SNAP2PROD_APP_URL, SNAP2PROD_TEST_MODEL, SNAP2PROD_TEST_PROMPT, SNAP2PROD_TEST_IMAGE.
Prints one line per check; exits 0 when all pass, 1 with the reason otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = float(os.environ.get("SNAP2PROD_TEST_TIMEOUT_S", "540"))
CONNECT_GRACE_S = float(os.environ.get("SNAP2PROD_TEST_CONNECT_GRACE_S", "30"))
"""How long a refused or unroutable connection is retried: a new pod's network, and the NetworkPolicy agent adding
its address to what may reach Ollama, can lag the pod's start by a moment (kube-router on KIND: about a second)."""


class Failed(Exception):
    """A check failed; the message says which and why."""


def ollama_url() -> str:
    """OLLAMA_HOST as the app reads it: host, host:port or a URL."""
    value = os.environ.get("OLLAMA_HOST", "").strip().rstrip("/")
    if not value:
        raise Failed("OLLAMA_HOST is not set")
    if "://" not in value:
        value = f"http://{value}"
    scheme, rest = value.split("://", 1)
    host = rest.split("/", 1)[0]
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{443 if scheme == 'https' else 11434}"
    return f"{scheme}://{host}"


def request(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    deadline = time.monotonic() + CONNECT_GRACE_S
    while True:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - the chart's URLs
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URLs come from the chart
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            transient = isinstance(reason, OSError) and not isinstance(reason, TimeoutError)  # refused, no route, DNS
            if not transient or time.monotonic() >= deadline:
                retried = f" (retried for {CONNECT_GRACE_S:g} s)" if transient else ""
                raise Failed(f"{method} {url}: {reason}{retried}") from None
            time.sleep(1)


def check_app(app_url: str) -> None:
    status, body = request("GET", f"{app_url}/_stcore/health", timeout=10)
    if status != 200 or body.strip() != b"ok":
        raise Failed(f"app health {app_url}/_stcore/health answered {status} {body[:80]!r}, expected 200 'ok'")
    print(f"ok   app health: {app_url}/_stcore/health answered ok", flush=True)


def check_inference(host: str, model: str, prompt: str, image: bytes) -> None:
    if not model:
        raise Failed(
            "no model to test: the lock has no model with the 'vision' capability and tests.model is unset; "
            "the app cannot describe pictures without one (lock e.g. moondream)"
        )
    status, body = request("POST", f"{host}/api/show", {"model": model})
    if status != 200:
        raise Failed(f"{model} is not on the Ollama at {host}: /api/show answered {status} {body[:200]!r}")
    capabilities = json.loads(body).get("capabilities") or []
    if "vision" not in capabilities:
        raise Failed(f"{model} cannot see pictures: its capabilities are {capabilities}")
    print(f"ok   {model} is served by {host} with capabilities {capabilities}", flush=True)
    message = {"role": "user", "content": prompt, "images": [base64.b64encode(image).decode()]}
    payload = {"model": model, "messages": [message], "stream": False, "options": {"num_predict": 24, "seed": 1}}
    start = time.monotonic()
    status, body = request("POST", f"{host}/api/chat", payload, timeout=TIMEOUT_S)
    if status != 200:
        raise Failed(f"inference on {model} failed: /api/chat answered {status} {body[:300]!r}")
    answer = json.loads(body)
    text = (answer.get("message") or {}).get("content", "")
    tokens = int(answer.get("eval_count") or 0)
    if tokens <= 0 or not text.strip():
        raise Failed(f"inference on {model} produced no text: {answer!r:.300}")
    seconds = time.monotonic() - start
    rate = tokens / (answer["eval_duration"] / 1e9) if answer.get("eval_duration") else 0.0
    print(f"ok   inference: {len(image)} byte picture -> {tokens} tokens in {seconds:.1f} s ({rate:.1f} tok/s)")
    print(f"     {model} says: {text.strip()[:200]!r}", flush=True)


def main(argv: list[str] | None = None) -> int:
    del argv
    try:
        host = ollama_url()
        with open(os.environ["SNAP2PROD_TEST_IMAGE"], "rb") as f:  # noqa: PTH123 - one read, stdlib only
            image = f.read()
        check_inference(host, os.environ.get("SNAP2PROD_TEST_MODEL", ""), os.environ["SNAP2PROD_TEST_PROMPT"], image)
        check_app(os.environ["SNAP2PROD_APP_URL"].rstrip("/"))
    except Failed as err:
        print(f"FAIL {err}", flush=True)
        return 1
    print("smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
