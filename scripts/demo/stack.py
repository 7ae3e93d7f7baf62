"""The laptop stack behind `make demo`, `up`, `status` and `down`: Ollama (reused or started), models ensured,
then Streamlit on :8501 until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from app.gateway import OllamaGateway
from app.settings import Settings
from scripts.console import console, show
from scripts.demo import offline_models, ollama_server
from scripts.processes import ManagedProcess, ProcessError, port_in_use, state_dir, stop_all

STREAMLIT = "streamlit"
DEFAULT_PORT = 8501


def app_port() -> int:
    """The page's port: SNAP2PROD_PORT, else 8501."""
    return int(os.environ.get("SNAP2PROD_PORT", DEFAULT_PORT))


def start_streamlit(state: Path, port: int, ollama_host: str, *, tie_to_parent: bool = False) -> str:
    """Serve the page; returns its URL once /_stcore/health answers."""
    if port_in_use(port):
        raise ProcessError(
            f"port {port} is busy (another Streamlit or a previous demo?). Stop it with `make down`, "
            "or choose another port: SNAP2PROD_PORT=8502 make demo"
        )
    flags = {
        "--server.port": str(port),
        "--server.address": "0.0.0.0",  # noqa: S104 - phones on the LAN may join
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "viewer",
        "--server.fileWatcherType": "none",
    }
    cmd = [sys.executable, "-m", "app.serve", *(part for flag in flags.items() for part in flag)]
    proc = ManagedProcess(STREAMLIT, state)
    proc.start(cmd, env={"OLLAMA_HOST": ollama_host}, tie_to_parent=tie_to_parent, port=port)
    url = f"http://localhost:{port}"
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout_s=60)
    except BaseException:  # a failed start or a Ctrl-C while waiting: leave nothing behind
        proc.stop()
        raise
    return url


def metrics_url() -> str:
    """Where the app's Prometheus metrics answer, or why they do not (the port is shared by every app process)."""
    port = Settings().metrics_port
    if not port:
        return "off (SNAP2PROD_METRICS_PORT=0)"
    url = f"http://localhost:{port}/metrics"
    try:
        httpx.get(url, timeout=2).raise_for_status()
    except httpx.HTTPError:
        return f"not served: port {port} is taken by another process (set SNAP2PROD_METRICS_PORT)"
    return url


def ensure_models(gateway: OllamaGateway) -> None:
    """The real models when the registry answers, else the offline pair (see scripts.demo.offline_models)."""
    plan = offline_models.plan(gateway, online=offline_models.registry_reachable())
    for name in plan.pulls:
        show(gateway.pull(name), f"pull {name}")
    if plan.create_offline:
        show(offline_models.create_offline_model(gateway), f"create {offline_models.OFFLINE_MODEL}")
    if plan.create_synthetic_vision:
        show(offline_models.create_vision_model(gateway), f"create {offline_models.SYNTHETIC_VISION_MODEL}")
    if plan.notice:
        console.print(f"[yellow]{plan.notice}[/yellow]")


def run(*, foreground: bool = True) -> int:
    """Start everything; in the foreground, wait until Ctrl-C (or `make down`) and then stop it all."""
    state = state_dir()
    port = app_port()
    if port_in_use(port):
        raise ProcessError(
            f"port {port} is busy (another Streamlit or a previous demo?). Stop it with `make down`, "
            "or choose another port: SNAP2PROD_PORT=8502 make demo"
        )
    console.print("[bold]snap2prod demo[/bold]: starting Ollama…")
    handle = ollama_server.find_or_start(state)
    gateway = OllamaGateway(handle.host)
    if foreground:
        signal.signal(signal.SIGTERM, _interrupt)  # `make down` or a service manager: stop like Ctrl-C
        # Ctrl-C stops the demo even when whatever started it ignores SIGINT (a shell's background job, some CI
        # runners): an ignored signal is inherited, and Python then raises no KeyboardInterrupt
        signal.signal(signal.SIGINT, _interrupt)
    up = False
    try:  # from here on, any failure or Ctrl-C stops what this run started
        version = gateway.version()
        console.print(f"  Ollama {version} at {handle.host} ({handle.source})", soft_wrap=True, highlight=False)
        if warning := ollama_server.version_warning(version):
            console.print(f"  [yellow]{warning}[/yellow]")
        ensure_models(gateway)
        url = start_streamlit(state, port, handle.host)
        console.print(f"\n[bold green]snap2prod is up:[/bold green] {url}   (Ctrl-C or `make down` stops it)")
        console.print(f"  metrics: {metrics_url()}\n")
        if not foreground:
            up = True
            return 0
        while ManagedProcess(STREAMLIT, state).info() is not None:
            time.sleep(0.5)
        console.print("Streamlit stopped; shutting down.")
        return 0
    except KeyboardInterrupt:
        console.print("\nStopping…")
        return 0
    finally:
        if not up:
            ManagedProcess(STREAMLIT, state).stop()
            if handle.started_here:
                ollama_server.stop(state)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class Running:
    """One process `status` shows."""

    name: str
    pid: int
    url: str
    healthy: bool
    log: str


def status() -> list[Running]:
    """The processes `demo`/`up` started that still run, each with a health probe."""
    state = state_dir()
    rows = []
    for name, probe in ((ollama_server.PROCESS_NAME, "/api/version"), (STREAMLIT, "/_stcore/health")):
        proc = ManagedProcess(name, state)
        info = proc.info()
        if info is None:
            continue
        url = str(info["host"]) if "host" in info else f"http://localhost:{info.get('port')}"
        try:
            healthy = httpx.get(url + probe, timeout=2).status_code == 200
        except httpx.HTTPError:
            healthy = False
        rows.append(Running(name, int(str(info["pid"])), url, healthy, str(proc.log_file)))
    return rows


def down() -> list[str]:
    """Stop everything the demo (or `snap2prod up`) started, whichever terminal started it."""
    return stop_all(state_dir())
