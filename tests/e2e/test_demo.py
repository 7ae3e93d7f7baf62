"""`snap2prod demo` end to end: it starts its own Ollama and Streamlit, the page works, `down` stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from scripts import toolchain
from scripts.processes import free_port, port_in_use

SNAP2PROD = [sys.executable, "-m", "scripts.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    env.update(SNAP2PROD_STATE=str(tmp_path / "state"), PYTHONUNBUFFERED="1", **extra)
    return env


def _wait_for(url: str, proc: subprocess.Popen[str], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited early: {proc.communicate()[0]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s} s")


def _pids_of(state: Path) -> list[int]:
    return [int(p.read_text().split('"pid": ')[1].split(",")[0]) for p in state.glob("*.pid")]


def test_demo_serves_the_page_with_ollamas_version_and_down_leaves_nothing(tmp_path: Path, browser: Browser) -> None:
    app_port, ollama_port = free_port(), free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(app_port), SNAP2PROD_OLLAMA_PORT=str(ollama_port))
    demo = subprocess.Popen([*SNAP2PROD, "demo"], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{app_port}/_stcore/health", demo)
        state = tmp_path / "state"
        pids = _pids_of(state)
        assert len(pids) == 2  # ollama and streamlit
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{app_port}/")
        expect(page.get_by_text(f"Ollama {toolchain.OLLAMA_VERSION} reachable")).to_be_visible(timeout=60_000)
        page.close()

        down = subprocess.run([*SNAP2PROD, "down"], env=env, text=True, capture_output=True, timeout=60)
        assert down.returncode == 0, down.stderr
        assert "ollama" in down.stdout + down.stderr
        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=30)
    assert not port_in_use(app_port)
    assert not port_in_use(ollama_port)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} is still running"
    assert not list(state.glob("*.pid"))


def test_ctrl_c_stops_what_the_demo_started(tmp_path: Path) -> None:
    app_port, ollama_port = free_port(), free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(app_port), SNAP2PROD_OLLAMA_PORT=str(ollama_port))
    demo = subprocess.Popen([*SNAP2PROD, "demo"], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for(f"http://127.0.0.1:{app_port}/_stcore/health", demo)
    pids = _pids_of(tmp_path / "state")
    demo.send_signal(signal.SIGINT)
    out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "Stopping" in out
    assert not port_in_use(app_port) and not port_in_use(ollama_port)
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_wrong_ollama_host_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    dead = free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(free_port()), OLLAMA_HOST=f"127.0.0.1:{dead}")
    result = subprocess.run([*SNAP2PROD, "demo"], env=env, text=True, capture_output=True, timeout=60)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"Ollama does not answer at http://127.0.0.1:{dead}" in output
    assert "unset OLLAMA_HOST" in output
    assert "Traceback" not in output


def test_busy_app_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = _env(tmp_path, SNAP2PROD_PORT=str(port))
        result = subprocess.run([*SNAP2PROD, "demo"], env=env, text=True, capture_output=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f"port {port} is busy" in output and "make down" in output
    assert "Traceback" not in output
    assert not list((tmp_path / "state").glob("*.pid"))
