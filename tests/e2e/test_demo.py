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

from app.gateway import OllamaGateway
from scripts import toolchain
from scripts.demo import offline_models as bootstrap
from scripts.demo import ollama_server
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


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """True once the process has exited (a zombie waiting for its reaper counts as exited)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().split(") ", 1)[1].startswith("Z"):
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.1)
    return False


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
        assert _gone(pid), f"process {pid} is still running"
    assert not list(state.glob("*.pid"))


def test_ctrl_c_stops_what_the_demo_started(tmp_path: Path) -> None:
    app_port, ollama_port = free_port(), free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(app_port), SNAP2PROD_OLLAMA_PORT=str(ollama_port))
    demo = subprocess.Popen([*SNAP2PROD, "demo"], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert demo.stdout is not None
    for line in demo.stdout:  # the demo is up once it has printed the metrics line under the URL
        if "metrics:" in line:
            break
    pids = _pids_of(tmp_path / "state")
    assert len(pids) == 2
    demo.send_signal(signal.SIGINT)
    out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "Stopping" in out
    assert not port_in_use(app_port) and not port_in_use(ollama_port)
    assert all(_gone(pid) for pid in pids)


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


def test_up_status_down_run_the_stack_in_the_background(tmp_path: Path) -> None:
    app_port, ollama_port, metrics_port = free_port(), free_port(), free_port()
    env = _env(
        tmp_path,
        SNAP2PROD_PORT=str(app_port),
        SNAP2PROD_OLLAMA_PORT=str(ollama_port),
        SNAP2PROD_METRICS_PORT=str(metrics_port),
    )
    up = subprocess.run([*SNAP2PROD, "up"], env=env, text=True, capture_output=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"http://localhost:{app_port}" in up.stdout + up.stderr
    assert f"metrics: http://localhost:{metrics_port}/metrics" in up.stdout + up.stderr
    try:
        served = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert served.status_code == 200 and "# TYPE snap2prod_" in served.text, served.text[:300]
        status = subprocess.run([*SNAP2PROD, "status"], env=env, text=True, capture_output=True, timeout=60)
        lines = (status.stdout + status.stderr).splitlines()
        assert any(line.startswith("ollama") and "healthy" in line and "NOT" not in line for line in lines), lines
        assert any(line.startswith("streamlit") and f":{app_port}" in line and "NOT" not in line for line in lines)
    finally:
        down = subprocess.run([*SNAP2PROD, "down"], env=env, text=True, capture_output=True, timeout=60)
    assert "ollama" in down.stdout + down.stderr and "streamlit" in down.stdout + down.stderr
    assert not port_in_use(app_port) and not port_in_use(ollama_port)
    after = subprocess.run([*SNAP2PROD, "status"], env=env, text=True, capture_output=True, timeout=60)
    assert "nothing is running" in after.stdout + after.stderr


def test_offline_bootstrap_plans_a_text_and_a_synthetic_vision_model_and_says_so(
    gateway: OllamaGateway, vision_model: str
) -> None:
    plan = bootstrap.plan(gateway, online=False)
    assert plan.pulls == ()
    assert not plan.create_offline and not plan.create_synthetic_vision  # both exist in the shared cache
    assert "no real vision model is available offline" in plan.notice
    assert "snap2prod models pull moondream mistral" in plan.notice


# --- a person who already has Ollama -------------------------------------------------------------------------


def test_a_running_ollama_is_used_and_nothing_is_built(tmp_path: Path, ollama_host: str, vision_model: str) -> None:
    """OLLAMA_HOST answers (the suite's Ollama, with the demo's models): an empty snap2prod cache stays without an
    Ollama build, and the demo says which Ollama it uses and its version."""
    cache = tmp_path / "empty-cache"
    app_port = free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(app_port), SNAP2PROD_CACHE=str(cache), OLLAMA_HOST=ollama_host)
    up = subprocess.run([*SNAP2PROD, "up"], env=env, text=True, capture_output=True, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        said = " ".join((up.stdout + up.stderr).split())
        assert f"Ollama {toolchain.OLLAMA_VERSION} at {ollama_host} (yours, from OLLAMA_HOST)" in said, said
        assert "snap2prod pins" not in said  # the pinned version: no warning
    finally:
        subprocess.run([*SNAP2PROD, "down"], env=env, capture_output=True, timeout=60)
    assert not list((cache / "tools").glob("ollama-*"))


def test_ollama_on_path_is_started_with_its_own_models_folder(tmp_path: Path) -> None:
    """No Ollama answers, but `ollama` is on PATH: the demo starts that one, and the models land in its own folder
    (~/.ollama/models of that person), not in snap2prod's cache."""
    assert not port_in_use(11434), "something listens on 127.0.0.1:11434; this test needs the default port free"
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    (bin_dir / "ollama").symlink_to(toolchain.binary("ollama"))  # a real Ollama, installed somewhere of its own
    app_port, ollama_port = free_port(), free_port()
    env = _env(tmp_path, SNAP2PROD_PORT=str(app_port), SNAP2PROD_OLLAMA_PORT=str(ollama_port), HOME=str(home))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["SNAP2PROD_CACHE"] = str(toolchain.cache_dir())  # HOME moved: the cache stays where the tools are
    up = subprocess.run([*SNAP2PROD, "up"], env=env, text=True, capture_output=True, timeout=600)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        said = " ".join((up.stdout + up.stderr).split())
        host = f"http://127.0.0.1:{ollama_port}"
        assert f"Ollama {toolchain.OLLAMA_VERSION} at {host} (yours, started from {bin_dir}/ollama)" in said, said
        manifests = home / ".ollama" / "models" / "manifests"
        made = sorted(p.relative_to(manifests).as_posix() for p in manifests.rglob("*") if p.is_file())
        assert made == [
            "registry.ollama.ai/snap2prod/smollm2/135m",
            "registry.ollama.ai/snap2prod/smolvlm-synthetic/135m",
        ]
    finally:
        down = subprocess.run([*SNAP2PROD, "down"], env=env, text=True, capture_output=True, timeout=60)
    assert "ollama" in down.stdout + down.stderr
    assert not port_in_use(ollama_port)


def test_another_ollama_version_gets_one_plain_warning_naming_the_command_for_the_pinned_one() -> None:
    assert ollama_server.version_warning("0.30.1", pinned="0.32.15") == (
        "This Ollama is 0.30.1; snap2prod pins 0.32.15. The demo runs, but a lock taken from it cannot be promoted "
        "as it is (the chart refuses a lock of another Ollama version). For the pinned Ollama: "
        "`SNAP2PROD_OLLAMA=pinned make demo` (built once into ~/.cache/snap2prod, then started beside yours)."
    )
    assert ollama_server.version_warning("0.32.15", pinned="0.32.15") is None
