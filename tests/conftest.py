"""Shared real parts: one Ollama server for the whole run, started from the cached build.

The run's time per test directory goes to ``$SNAP2PROD_STAGES`` when set (`make test` prints it as a summary).

Also the run's guard on ``~/.kube``: no file under it may be created, changed or removed by the suite, whether the
folder existed before the run or not (the README promises the project never touches it)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.gateway import OllamaGateway
from scripts.demo import offline_models as bootstrap
from scripts.demo import ollama_server
from scripts.processes import free_port


@pytest.fixture(scope="session")
def ollama_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ollama-state")


@pytest.fixture(scope="session")
def ollama_host(ollama_state: Path) -> Iterator[str]:
    """A real `ollama serve` on a free port, models dir in the cache, stopped after the run."""
    host = ollama_server.start(ollama_state, port=free_port(), tie_to_parent=True)
    yield host
    ollama_server.stop(ollama_state)


@pytest.fixture(scope="session")
def gateway(ollama_host: str) -> Iterator[OllamaGateway]:
    gw = OllamaGateway(ollama_host)
    yield gw
    gw.close()


@pytest.fixture(scope="session")
def text_model(gateway: OllamaGateway) -> str:
    """The offline SmolLM2 model, created from its GGUF when the cache does not have it yet."""
    if bootstrap.OFFLINE_MODEL not in {m.name for m in gateway.list_models()}:
        events = list(bootstrap.create_offline_model(gateway))
        assert events[-1].status == "success", events[-3:]
    return bootstrap.OFFLINE_MODEL


@pytest.fixture(scope="session")
def vision_model(gateway: OllamaGateway, text_model: str) -> str:
    """The synthetic vision model (SmolLM2 + the colour projector): real image path, it names the colour."""
    from scripts.demo.offline_models import ensure_vision_model as ensure_model

    return ensure_model(gateway)


def jpeg_bytes(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """A small photo-like JPEG: gradients, a shape and noise."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    image = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2], -1)
    image = image + rng.normal(0, 8, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 4, (20, 40, 220), -1)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def home_kube_files(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``home/.kube`` with its size and mtime (empty when the folder does not exist)."""
    root = home / ".kube"
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def home_kube_changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """What happened under ``~/.kube`` between two readings, one line per file."""
    created = [f"created {name}" for name in after.keys() - before.keys()]
    removed = [f"removed {name}" for name in before.keys() - after.keys()]
    changed = [f"changed {name}" for name in before.keys() & after.keys() if before[name] != after[name]]
    return sorted(created + removed + changed)


_HOME_KUBE = pytest.StashKey[tuple[bool, dict[str, tuple[int, int]]]]()
_STARTED = pytest.StashKey[float]()
_SECONDS_PER_DIRECTORY: defaultdict[str, float] = defaultdict(float)


def pytest_sessionstart(session: pytest.Session) -> None:
    # what promote records about production contexts (scripts/promote/identity.py) goes to the run's own folder
    os.environ["SNAP2PROD_CONFIG"] = tempfile.mkdtemp(prefix="snap2prod-config-")
    home = Path.home()
    session.stash[_HOME_KUBE] = ((home / ".kube").exists(), home_kube_files(home))
    session.stash[_STARTED] = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Setup, call and teardown of each test, added to its directory (a shared fixture counts where it starts)."""
    directory = "/".join(report.nodeid.split("::")[0].split("/")[:2])
    _SECONDS_PER_DIRECTORY[directory] += report.duration


CONTAINERS_GROUP = "containers"
"""The xdist group of every test that drives podman or KIND: one worker runs them, in order, so two never fight
over the engine, the local registry or a cluster's host ports."""


ANSWER_TOKENS = 64
"""Every page under test (AppTest and the browser's) caps each answer here (SNAP2PROD_MAX_ANSWER_TOKENS): the
synthetic model's noise runs to the cap, and at the default 512 its answers made these tests minutes longer and
outran the browser test's waits. test_page_claims checks the cap arrives."""

PAGE_GROUP = "page"
"""The xdist group of the two AppTest page modules: they share fixtures that make and delete one model tag
(test_page's ``second_vision_model``), which two workers at once would delete under each other."""

SIM_GROUP = "sim"
"""The xdist group of every module that uses a rehearsal (kwok) cluster: kwokctl picks its ports itself, and two
clusters created at once on two workers can pick the same one."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two pytest-xdist workers (--dist loadgroup): a module stays on one worker, in one piece, so
    its module fixtures are made once and never interleave with another module's; a module or test marked
    ``xdist_group(...)`` joins that group instead (CONTAINERS_GROUP, SIM_GROUP)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


def _write_stages(session: pytest.Session) -> None:
    stages = os.environ.get("SNAP2PROD_STAGES")
    if not stages or hasattr(session.config, "workerinput"):  # an xdist worker: its controller writes the stages
        return
    wall = time.monotonic() - session.stash[_STARTED]
    lines = [f"tests {round(wall)}"]  # pytest's own wall time; the directories' test time is summed over workers
    lines += [f"dir {d} {round(s)}" for d, s in sorted(_SECONDS_PER_DIRECTORY.items())]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    for outcome in ("passed", "failed", "error", "skipped"):
        if stats.get(outcome):
            lines.append(f"count {outcome} {len({r.nodeid for r in stats[outcome]})}")
    with open(stages, "a") as out:
        out.write("\n".join(lines) + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when anything under ``~/.kube`` appeared or changed while it ran; record the stage times."""
    _write_stages(session)
    if config := os.environ.get("SNAP2PROD_CONFIG"):
        shutil.rmtree(config, ignore_errors=True)
    existed, before = session.stash[_HOME_KUBE]
    home = Path.home()
    changes = home_kube_changes(before, home_kube_files(home))
    if not existed and (home / ".kube").exists():
        changes.insert(0, "created the folder ~/.kube")
    if changes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["FAILED: the test run wrote under ~/.kube, which the project promises never to touch:", *changes]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
