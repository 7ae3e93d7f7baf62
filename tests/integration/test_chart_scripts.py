"""The programs the chart ships, run for real: model provisioning, the Ollama probe and the helm test.

Each is taken from the chart's rendered ConfigMaps (what a cluster would mount) and run as the pod would run it:
`pull-models.sh` and `models-present.sh` under /bin/sh with the real `ollama` binary (the pinned version, as in the
image) against a real OCI mirror (CNCF distribution with redirects, tests/models_fixtures.py); `smoke_test.py` with
python against a real Ollama serving the synthetic vision model and the real Streamlit page.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.lock import read_lock
from scripts import cli, demo, toolchain
from scripts.processes import ManagedProcess, free_port
from tests import models_fixtures
from tests.fixtures.chart.helm import lock_values, one, template
from tests.models_fixtures import Mirror, Registry, ScratchOllama, start_ollama

mirror_registry = models_fixtures.mirror_registry
fault_slow_blob_store = models_fixtures.fault_slow_blob_store

NAMESPACE = "snap2prod"


@dataclass(frozen=True)
class Shipped:
    """The chart's scripts and model list, rendered for a lock and a mirror, written where a pod mounts them."""

    root: Path
    registry: str
    lock_path: Path

    @property
    def pull(self) -> Path:
        return self.root / "pull-models.sh"

    @property
    def probe(self) -> Path:
        return self.root / "models-present.sh"

    @property
    def models_list(self) -> Path:
        return self.root / "models.list"

    def rows(self) -> list[list[str]]:
        return [line.split() for line in self.models_list.read_text().splitlines()]

    def with_rows(self, name: str, rows: list[list[str]]) -> Path:
        path = self.root / name
        path.write_text("".join(" ".join(row) + "\n" for row in rows))
        return path


@pytest.fixture(scope="module")
def shipped(
    tmp_path_factory: pytest.TempPathFactory, ollama_host: str, text_model: str, mirror_registry: Mirror
) -> Shipped:
    """The shared test model locked and mirrored with the CLI, then the chart rendered for that lock + mirror."""
    root = tmp_path_factory.mktemp("shipped")
    lock_path = root / "models.lock"
    assert cli.main(["models", "lock", "--host", ollama_host, "--lock", str(lock_path), "--model", text_model]) == 0
    registry = mirror_registry.redirecting.namespace(NAMESPACE)
    args = ["models", "mirror", "--registry", registry, "--insecure", "--host", ollama_host, "--lock", str(lock_path)]
    assert cli.main(args) == 0
    docs = template(
        "local",
        lock_values(root / "lock-values.yaml", lock_path),
        sets=[f"models.registry={registry}", "models.insecure=true"],
    )
    data = one(docs, "ConfigMap", "ollama")["data"]
    for name in ("pull-models.sh", "models-present.sh", "models.list"):
        (root / name).write_text(data[name])
    return Shipped(root, registry, lock_path)


def run_pull(
    shipped: Shipped, models: Path, models_list: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """pull-models.sh as the init container runs it: the image's environment, an empty HOME and /tmp."""
    home, work = models.parent / "home", models.parent / "tmp"
    for folder in (models, home, work):
        folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{toolchain.binary('ollama').parent}:/usr/bin:/bin",
        "OLLAMA_MODELS": str(models),
        "HOME": str(home),
        "TMPDIR": str(work),
        "SNAP2PROD_MODEL_LIST": str(models_list or shipped.models_list),
        "SNAP2PROD_PULL_INSECURE": "true",
        "SNAP2PROD_PULL_PORT": str(free_port()),
        **extra,
    }
    return subprocess.run(["/bin/sh", str(shipped.pull)], env=env, capture_output=True, text=True, timeout=300)


def run_probe(
    shipped: Shipped, models: Path, port: int, models_list: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{toolchain.binary('ollama').parent}:/usr/bin:/bin",
        "OLLAMA_MODELS": str(models),
        "SNAP2PROD_MODEL_LIST": str(models_list or shipped.models_list),
        "SNAP2PROD_OLLAMA_PORT": str(port),
    }
    return subprocess.run(["/bin/sh", str(shipped.probe)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, shipped: Shipped) -> tuple[Path, str]:
    """A models folder filled by one run of pull-models.sh from the mirror; its output."""
    state = tmp_path_factory.mktemp("provisioned")
    proc = run_pull(shipped, state / "models")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return state, proc.stdout


@pytest.fixture(scope="module")
def served(provisioned: tuple[Path, str]) -> Iterator[ScratchOllama]:
    """Ollama started on the provisioned folder, as the main container starts after the init container."""
    state, _ = provisioned
    server, proc = start_ollama(state)
    yield server
    server.gateway.close()
    proc.stop()


# --- pull-models.sh ------------------------------------------------------------------------------------------


def test_provisioning_pulls_the_locked_model_from_the_mirror_and_checks_its_digest(
    shipped: Shipped, provisioned: tuple[Path, str], text_model: str
) -> None:
    _, output = provisioned
    ((ref, source, digest, _, _),) = shipped.rows()
    assert (ref, source) == (text_model, f"{shipped.registry}/smollm2:135m")
    assert f"{ref}: pulling {source} (insecure registry)" in output
    assert f"{ref}: pulled, digest {digest} matches the lock" in output
    assert output.rstrip().endswith("all 1 locked models present with their locked digests")


def test_provisioned_models_are_served_under_their_canonical_name_with_the_locked_digest(
    shipped: Shipped, served: ScratchOllama, text_model: str
) -> None:
    locked = read_lock(shipped.lock_path).find(text_model)
    assert locked is not None
    models = {m.name: m.digest for m in served.gateway.list_models()}
    assert list(models) == [text_model]  # the mirror's name was removed after the rename
    assert locked.matches(models[text_model])


def test_provisioning_again_skips_a_model_already_present_with_its_locked_digest(
    shipped: Shipped, provisioned: tuple[Path, str], tmp_path: Path, text_model: str
) -> None:
    state, _ = provisioned
    again = tmp_path / "again"
    shutil.copytree(state / "models", again / "models")
    proc = run_pull(shipped, again / "models")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{text_model}: already present with the locked digest" in proc.stdout
    assert "pulling" not in proc.stdout


def test_provisioning_shows_the_progress_of_a_long_pull_as_plain_text(
    shipped: Shipped, tmp_path: Path, mirror_registry: Mirror, fault_slow_blob_store: Registry
) -> None:
    ((ref, source, digest, also, manifest),) = shipped.rows()
    slow = source.replace(mirror_registry.redirecting.address, fault_slow_blob_store.address)
    models_list = shipped.with_rows("slow.list", [[ref, slow, digest, also, manifest]])
    # the pod's default is every 10 s; the slow network makes the pull last about 5 s
    proc = run_pull(shipped, tmp_path / "models", models_list, SNAP2PROD_PROGRESS_SECONDS="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress = [line for line in proc.stdout.splitlines() if "pull-models:   " in line]
    assert progress, proc.stdout
    assert "\x1b" not in proc.stdout
    assert any(re.search(r"pulling [0-9a-f]{12}.* \d+%", line) for line in progress), progress


def test_a_model_arriving_with_another_digest_is_removed_and_fails_provisioning(
    shipped: Shipped, tmp_path: Path, text_model: str
) -> None:
    ((ref, source, digest, _, manifest),) = shipped.rows()
    wrong = "sha256:" + "0" * 64
    models_list = shipped.with_rows("wrong-digest.list", [[ref, source, wrong, "-", manifest]])
    proc = run_pull(shipped, tmp_path / "models", models_list)
    assert proc.returncode == 3  # no retry helps: promote stops waiting at once (scripts/promote/rollout.py)
    assert f"error: {ref} arrived with digest {digest}, the lock pins {wrong}; removed it again." in proc.stdout
    assert "error: 1 of 1 locked models are not present with their locked digest; Ollama will not start" in proc.stdout
    assert not (tmp_path / "models" / "manifests" / manifest).exists()


def test_an_unreachable_registry_fails_provisioning_naming_the_model_and_the_cause(
    shipped: Shipped, tmp_path: Path
) -> None:
    ((ref, _, digest, also, manifest),) = shipped.rows()
    nowhere = f"127.0.0.1:{free_port()}/snap2prod/smollm2:135m"
    models_list = shipped.with_rows("nowhere.list", [[ref, nowhere, digest, also, manifest]])
    proc = run_pull(shipped, tmp_path / "models", models_list)
    assert proc.returncode == 1
    assert f"error: {ref}: could not pull {nowhere}" in proc.stdout
    assert "connection refused" in proc.stdout


def test_an_empty_lock_provisions_nothing(shipped: Shipped, tmp_path: Path) -> None:
    proc = run_pull(shipped, tmp_path / "models", shipped.with_rows("empty.list", []))
    assert proc.returncode == 0
    assert "the lock names no models: nothing to pull" in proc.stdout


# --- models-present.sh (startup and readiness probe) ------------------------------------------------------------


def port_of(server: ScratchOllama) -> int:
    return int(server.host.rsplit(":", 1)[1])


def test_the_probe_passes_when_every_locked_model_is_served_with_its_digest(
    shipped: Shipped, provisioned: tuple[Path, str], served: ScratchOllama
) -> None:
    proc = run_probe(shipped, served.models, port_of(served))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_probe_fails_naming_a_locked_model_the_server_lacks(shipped: Shipped, served: ScratchOllama) -> None:
    missing = [
        "moondream:latest",
        "moondream:latest",
        "sha256:" + "1" * 64,
        "-",
        "registry.ollama.ai/library/moondream/latest",
    ]
    models_list = shipped.with_rows("one-missing.list", [*shipped.rows(), missing])
    proc = run_probe(shipped, served.models, port_of(served), models_list)
    assert proc.returncode == 1
    assert proc.stdout.strip() == "locked models missing or with another digest: moondream:latest(not listed)"


def test_the_probe_fails_when_a_served_model_has_another_digest(shipped: Shipped, served: ScratchOllama) -> None:
    ((ref, source, digest, _, manifest),) = shipped.rows()
    models_list = shipped.with_rows("other-digest.list", [[ref, source, "sha256:" + "2" * 64, "-", manifest]])
    proc = run_probe(shipped, served.models, port_of(served), models_list)
    assert proc.returncode == 1
    assert f"{ref}(digest {digest})" in proc.stdout


def test_the_probe_fails_when_the_api_does_not_answer(shipped: Shipped, served: ScratchOllama) -> None:
    port = free_port()
    proc = run_probe(shipped, served.models, port)
    assert proc.returncode == 1
    assert f"Ollama API does not answer on 127.0.0.1:{port}" in proc.stdout


# --- smoke_test.py (the helm test) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_test(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """The helm test's script, its fixture picture and its environment, as the chart renders them."""
    root = tmp_path_factory.mktemp("smoke-test")
    docs = template("prod")
    config = one(docs, "ConfigMap", "smoke-test")
    script = root / "smoke_test.py"
    script.write_text(config["data"]["smoke_test.py"])
    picture = root / "fixture.jpg"
    picture.write_bytes(base64.b64decode(config["binaryData"]["fixture.jpg"]))
    (container,) = one(docs, "Pod", "smoke-test")["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    return script, picture, env


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, ollama_host: str, vision_model: str) -> Iterator[str]:
    """The real page, served against the session's Ollama."""
    state = tmp_path_factory.mktemp("page")
    url = demo.start_streamlit(state, free_port(), ollama_host, tie_to_parent=True)
    yield url
    ManagedProcess(demo.STREAMLIT, state).stop()


def run_smoke_test(
    smoke_test: tuple[Path, Path, dict[str, str]], ollama_host: str, app_url: str, model: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The helm test's script with the chart's environment, pointed at this machine's Ollama and page."""
    script, picture, rendered_env = smoke_test
    env = {
        **rendered_env,
        **extra,
        "SNAP2PROD_TEST_IMAGE": str(picture),
        "PATH": "/usr/bin:/bin",
        "OLLAMA_HOST": ollama_host,
        "SNAP2PROD_APP_URL": app_url,
        "SNAP2PROD_TEST_MODEL": model,
    }
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)


def test_the_smoke_test_describes_the_fixture_picture_and_finds_the_page_healthy(
    smoke_test: tuple[Path, Path, dict[str, str]], ollama_host: str, vision_model: str, page: str
) -> None:
    proc = run_smoke_test(smoke_test, ollama_host, page, vision_model)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"ok   {vision_model} is served by {ollama_host} with capabilities")
    assert lines[1].startswith("ok   inference: 20459 byte picture ->")
    assert f"ok   app health: {page}/_stcore/health answered ok" in lines
    assert lines[-1] == "smoke test passed"


def test_the_smoke_test_fails_for_a_model_that_cannot_see_pictures(
    smoke_test: tuple[Path, Path, dict[str, str]], ollama_host: str, text_model: str, page: str
) -> None:
    proc = run_smoke_test(smoke_test, ollama_host, page, text_model)
    assert proc.returncode == 1
    assert proc.stdout.strip().startswith(f"FAIL {text_model} cannot see pictures: its capabilities are")


def test_the_smoke_test_fails_when_no_vision_model_is_locked(
    smoke_test: tuple[Path, Path, dict[str, str]], ollama_host: str, page: str
) -> None:
    proc = run_smoke_test(smoke_test, ollama_host, page, "")
    assert proc.returncode == 1
    assert "FAIL no model to test: the lock has no model with the 'vision' capability" in proc.stdout


def test_the_smoke_test_fails_when_the_page_does_not_answer(
    smoke_test: tuple[Path, Path, dict[str, str]], ollama_host: str, vision_model: str
) -> None:
    """A refused connection is retried for a grace period (a new pod's network and NetworkPolicies can lag its
    start), then fails naming the URL, the cause and how long it waited."""
    down = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = run_smoke_test(smoke_test, ollama_host, down, vision_model, SNAP2PROD_TEST_CONNECT_GRACE_S="3")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == (
        f"FAIL GET {down}/_stcore/health: [Errno 111] Connection refused (retried for 3 s)"
    )
    assert time.monotonic() - start >= 3
