"""Verify: the models the cluster's Ollama serves are the locked ones.

The cluster's Ollama is reached with `kubectl port-forward` on 127.0.0.1: the kubelet connects inside the pod, so
the chart's NetworkPolicy (Ollama admits only the app and the helm test) does not stand in the way and nothing is
exposed. The API server's service proxy would connect from the control plane's address, which the policy refuses
as soon as the cluster enforces it and Ollama runs on another node (found on the GPU-shaped KIND worker). It is the
app's own ``OllamaGateway`` pointed at the forwarded port, so Ollama's answers have one parser. The tests point
the very same code at a real local Ollama, because the rehearsal cluster runs no containers.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.errors import RUNNER_KILLED
from app.gateway import OllamaGateway
from app.lock import Drift, Lock, compare
from scripts import toolchain
from scripts.promote.errors import PromoteError

FORWARD_WAIT_S = 30.0


class ForwardFailed(PromoteError):
    """kubectl port-forward did not start; the message is kubectl's own (one of the CLI's errors: no traceback)."""


def verify_models(gateway: OllamaGateway, lock: Lock) -> Drift:
    """The lock against what ``gateway``'s Ollama lists."""
    return compare(lock, gateway.list_models())


@contextmanager
def cluster_ollama(
    kubeconfig: Path | None, context: str | None, namespace: str, service: str, port: int
) -> Iterator[OllamaGateway]:
    """A gateway to the Ollama behind a Service, through `kubectl port-forward` to one of its pods."""
    cmd = [str(toolchain.binary("kubectl"))]
    cmd += ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
    cmd += ["--context", context] if context else []
    cmd += ["-n", namespace, "port-forward", f"service/{service}", f":{port}", "--address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        gateway = OllamaGateway(_forwarded(proc), connect_timeout_s=30, first_token_timeout_s=30)
        try:
            yield gateway
        finally:
            gateway.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _forwarded(proc: subprocess.Popen[str]) -> str:
    """The local URL kubectl prints ("Forwarding from 127.0.0.1:PORT -> ..."), or ForwardFailed with what it said.

    A thread keeps reading kubectl's output (its errors included) for as long as it runs, so it never blocks."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)  # kubectl exited

    threading.Thread(target=read, daemon=True).start()
    said: list[str] = []
    deadline = time.monotonic() + FORWARD_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        if match := re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line):
            return f"http://127.0.0.1:{match.group(1)}"
        said.append(line)
    what = "".join(said).strip() or "nothing"
    raise ForwardFailed(f"kubectl port-forward did not forward a port (waited up to {FORWARD_WAIT_S:g} s): {what}")


def memory_kill_hint(pods: Sequence[Any], docs: Sequence[Mapping[str, Any]], output: str) -> str:
    """Why a failed helm test failed, when Ollama (or its runner) was killed for memory; "" otherwise.

    A runner killed inside the container leaves the pod Running (Ollama itself survives), so Ollama's own answer
    counts as much as an OOMKilled container status."""
    oom = [
        p.metadata.name
        for p in pods
        for s in (p.status.container_statuses or [])
        if any(t is not None and t.reason == "OOMKilled" for t in _terminations(s))
    ]
    if not oom and RUNNER_KILLED not in output:
        return ""
    limit = _ollama_memory_limit(docs)
    what = f"the Ollama container {', '.join(oom)} was OOMKilled" if oom else "Ollama's model runner was killed"
    return (
        f"\n{what}: most likely for memory. The Ollama container's memory limit is {limit} "
        "(ollama.resources.limits.memory); loading the model for the test needs more. Raise the limit (and the "
        "request with it), or lock a smaller model."
    )


def _terminations(status: Any) -> list[Any]:
    return [s.terminated for s in (status.state, status.last_state) if s is not None]


def _ollama_memory_limit(docs: Sequence[Mapping[str, Any]]) -> str:
    for doc in docs:
        labels = doc.get("metadata", {}).get("labels", {})
        if doc.get("kind") == "Deployment" and labels.get("app.kubernetes.io/component") == "ollama":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                if container["name"] == "ollama":
                    return str(container.get("resources", {}).get("limits", {}).get("memory", "not set"))
    return "not set"
