"""`snap2prod models` against real Ollama servers: lock, verify, import and list.

The session's Ollama (with the shared SmolLM2 model) is only read here; everything that creates models does it
on a scratch Ollama with its own empty models folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.catalog import load_catalog
from app.gateway import OllamaGateway
from app.lock import normalize_digest, read_lock
from scripts import cli, console, toolchain
from scripts.demo import colour_projector, offline_models
from scripts.models.command import EXIT_DRIFT
from scripts.processes import free_port
from tests.models_fixtures import ScratchOllama, start_ollama


@pytest.fixture(scope="module")
def import_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchOllama]:
    server, proc = start_ollama(tmp_path_factory.mktemp("import-side"))
    yield server
    server.gateway.close()
    proc.stop()


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real projector GGUF (the colour projector, see scripts/demo/colour_projector.py) that fits SmolLM2."""
    embeddings = colour_projector.colour_embeddings(offline_models.smollm2_gguf())
    return colour_projector.write_projector(tmp_path_factory.mktemp("projector") / "mmproj.gguf", embeddings)


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are not cut to the 80 columns of a captured stream."""
    monkeypatch.setattr(console.console, "_width", 240)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def digest_of(gateway: OllamaGateway, name: str) -> str:
    return normalize_digest(next(m.digest for m in gateway.list_models() if m.name == name))


# --- lock ------------------------------------------------------------------------------------------------


def test_lock_pins_the_installed_catalog_models_by_default(
    gateway: OllamaGateway, ollama_host: str, text_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server also holds a model the catalog does not name (a copy under a name of its own): it stays out."""
    outside = "someone/not-in-the-catalog:1"
    assert outside not in load_catalog().names
    gateway.copy(text_model, outside)
    try:
        code, out = run(["models", "lock", "--host", ollama_host, "--lock", str(tmp_path / "models.lock")], capsys)
    finally:
        gateway.delete(outside)
    assert code == 0, out
    refs = [m.ref for m in read_lock(tmp_path / "models.lock").models]
    assert text_model in refs and outside not in refs


def test_a_locked_entry_has_the_digest_size_and_capabilities_the_server_reports(
    ollama_host: str, text_model: str, tmp_path: Path
) -> None:
    assert cli.main(["models", "lock", "-m", text_model, "--host", ollama_host, "--lock", str(tmp_path / "l")]) == 0
    entry = read_lock(tmp_path / "l").find(text_model)
    assert entry is not None
    tags = httpx.get(f"{ollama_host}/api/tags", timeout=10).json()["models"]
    listed = next(m for m in tags if m["name"] == text_model)
    shown = httpx.post(f"{ollama_host}/api/show", json={"model": text_model}, timeout=10).json()
    assert (entry.name, entry.tag) == ("snap2prod/smollm2", "135m")
    assert entry.digest == f"sha256:{listed['digest']}"
    assert entry.size == listed["size"]
    assert entry.capabilities == tuple(shown["capabilities"])


def test_the_lock_records_the_ollama_version_it_was_taken_from(
    ollama_host: str, text_model: str, tmp_path: Path
) -> None:
    assert cli.main(["models", "lock", "-m", text_model, "--host", ollama_host, "--lock", str(tmp_path / "l")]) == 0
    assert read_lock(tmp_path / "l").ollama_version == toolchain.OLLAMA_VERSION


def test_locking_a_model_the_server_does_not_have_is_an_error(
    ollama_host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "lock", "-m", "snap2prod-test/absent:1", "--host", ollama_host, "--lock", str(tmp_path / "l")]
    code, out = run(args, capsys)
    assert code == 1
    assert "'snap2prod-test/absent:1' is not installed" in out
    assert not (tmp_path / "l").exists()


def test_locking_a_server_without_catalog_models_says_what_to_do(
    import_side: ScratchOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = [m for m in import_side.gateway.list_models() if m.name in load_catalog().names]
    assert empty == []
    code, out = run(["models", "lock", "--host", import_side.host, "--lock", str(tmp_path / "l")], capsys)
    assert code == 1
    assert "None of the catalog's models is installed" in out


# --- verify ------------------------------------------------------------------------------------------------


def test_verify_passes_when_the_server_has_the_locked_digests(
    ollama_host: str, text_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = str(tmp_path / "l")
    assert cli.main(["models", "lock", "-m", text_model, "--host", ollama_host, "--lock", lock]) == 0
    code, out = run(["models", "verify", "--host", ollama_host, "--lock", lock], capsys)
    assert code == 0, out
    assert f"  ok       {text_model}" in out


def test_verify_lists_a_missing_model_and_exits_3(
    ollama_host: str, import_side: ScratchOllama, text_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = str(tmp_path / "l")
    assert cli.main(["models", "lock", "-m", text_model, "--host", ollama_host, "--lock", lock]) == 0
    assert text_model not in {m.name for m in import_side.gateway.list_models()}
    code, out = run(["models", "verify", "--host", import_side.host, "--lock", lock], capsys)
    assert code == EXIT_DRIFT == 3
    assert "does not match the lock: 1 missing, 0 with another digest" in out
    assert f"- missing  {text_model}" in out


def test_verify_shows_a_model_that_changed_since_it_was_locked_and_exits_3(
    import_side: ScratchOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "snap2prod-test/drift:1"
    gguf = offline_models.smollm2_gguf()
    modelfile = tmp_path / "drift.Modelfile"
    modelfile.write_text(f"FROM {gguf}\nPARAMETER temperature 0.2\n")
    host = ["--host", import_side.host]
    assert cli.main(["models", "import", name, "--modelfile", str(modelfile), *host]) == 0
    assert cli.main(["models", "lock", "-m", name, *host, "--lock", str(tmp_path / "l")]) == 0
    locked = digest_of(import_side.gateway, name)
    modelfile.write_text(f"FROM {gguf}\nPARAMETER temperature 0.9\n")
    assert cli.main(["models", "import", name, "--modelfile", str(modelfile), *host]) == 0
    now = digest_of(import_side.gateway, name)
    code, out = run(["models", "verify", *host, "--lock", str(tmp_path / "l")], capsys)
    assert code == EXIT_DRIFT
    assert f"! differs  {name}  locked {locked[7:19]}, server has {now[7:19]}" in out


def test_verify_against_a_server_that_does_not_answer_is_an_error_not_drift(
    ollama_host: str, text_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = str(tmp_path / "l")
    assert cli.main(["models", "lock", "-m", text_model, "--host", ollama_host, "--lock", lock]) == 0
    code, out = run(["models", "verify", "--host", f"127.0.0.1:{free_port()}", "--lock", lock], capsys)
    assert code == 1
    assert "Ollama does not answer" in out


def test_verify_without_a_lock_says_how_to_make_one(
    ollama_host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["models", "verify", "--host", ollama_host, "--lock", str(tmp_path / "none.lock")], capsys)
    assert code == 1
    assert "Create it with `snap2prod models lock`" in out


# --- import ----------------------------------------------------------------------------------------------


def _contents(host: str, name: str) -> dict[str, object]:
    """What a model is made of, as /api/show tells it, without the models folder's path in it."""
    shown = httpx.post(f"{host}/api/show", json={"model": name}, timeout=10).json()
    modelfile = sorted(re.sub(r"FROM \S*/blobs/", "FROM blobs/", shown["modelfile"]).splitlines())  # Go map order
    details = {k: v for k, v in shown["details"].items() if k != "parent_model"}
    return {"modelfile": modelfile, "details": details, "capabilities": shown["capabilities"]}


@pytest.fixture(scope="module")
def imported_text_model(import_side: ScratchOllama, text_model: str) -> str:
    """The catalog's SmolLM2 entry, imported from models/smollm2.Modelfile with the CLI."""
    assert cli.main(["models", "import", text_model, "--host", import_side.host]) == 0
    return text_model


def test_importing_the_catalogs_modelfile_gives_the_bootstrap_models_weights_template_and_parameters(
    imported_text_model: str, import_side: ScratchOllama, ollama_host: str
) -> None:
    assert _contents(import_side.host, imported_text_model) == _contents(ollama_host, imported_text_model)


def test_a_created_models_digest_is_the_same_in_every_models_folder(
    imported_text_model: str, import_side: ScratchOllama, gateway: OllamaGateway
) -> None:
    """Ollama 0.24 wrote the blob's absolute path ("from") into a created model's manifest, so the same GGUF got
    another digest in every models folder; 0.32.15 and 0.34.0 do not: importing the same files pins the same digest."""
    assert digest_of(import_side.gateway, imported_text_model) == digest_of(gateway, imported_text_model)


def test_importing_a_gguf_with_a_projector_gives_a_model_that_can_see(
    import_side: ScratchOllama, projector: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--model-file", str(offline_models.smollm2_gguf()), "--projector", str(projector)]
    code, out = run(["models", "import", "snap2prod-test/eye:1", *files, "--host", import_side.host], capsys)
    assert code == 0, out
    assert "vision" in import_side.gateway.show("snap2prod-test/eye:1").capabilities


def test_importing_a_gguf_alone_gives_a_text_model(
    import_side: ScratchOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "import", "snap2prod-test/text:1", "--model-file", str(offline_models.smollm2_gguf())]
    code, out = run([*args, "--host", import_side.host], capsys)
    assert code == 0, out
    assert import_side.gateway.show("snap2prod-test/text:1").capabilities == ("completion",)


def test_importing_a_catalog_vision_model_without_projector_warns_that_it_cannot_see(
    import_side: ScratchOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n  - name: snap2prod-test/blind:1\n    role: vision\n    capabilities: [completion, vision]\n"
        "    image_size: 56\n    size_gb: 0.1\n"
    )
    args = ["models", "import", "snap2prod-test/blind:1", "--model-file", str(offline_models.smollm2_gguf())]
    code, out = run([*args, "--catalog", str(catalog), "--host", import_side.host], capsys)
    assert code == 0, out
    assert "snap2prod-test/blind:1 does not report vision (the catalog expects it)" in out


def test_importing_a_file_that_is_not_gguf_fails_before_anything_is_created(
    import_side: ScratchOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"<html>a download error page</html>")
    args = ["models", "import", "snap2prod-test/bad:1", "--model-file", str(fake), "--host", import_side.host]
    code, out = run(args, capsys)
    assert code == 1
    assert "is not a GGUF file" in out
    assert "snap2prod-test/bad:1" not in {m.name for m in import_side.gateway.list_models()}


def test_importing_an_unknown_name_without_files_says_what_to_pass(
    import_side: ScratchOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["models", "import", "snap2prod-test/nothing:1", "--host", import_side.host], capsys)
    assert code == 1
    assert "pass --model-file X.gguf [--projector Y.gguf] or --modelfile PATH" in out


# --- list / pull ------------------------------------------------------------------------------------------


def test_list_shows_each_model_with_its_capability_badges(
    import_side: ScratchOllama, projector: Path, wide_console: None, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--model-file", str(offline_models.smollm2_gguf()), "--projector", str(projector)]
    assert cli.main(["models", "import", "snap2prod-test/seeing:1", *files, "--host", import_side.host]) == 0
    capsys.readouterr()
    code, out = run(["models", "list", "--host", import_side.host], capsys)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "snap2prod-test/seeing:1" in line)
    assert "vision" in row
    assert "text" in row


def test_list_shows_the_catalog_role_of_a_catalog_model(
    ollama_host: str, text_model: str, wide_console: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["models", "list", "--host", ollama_host], capsys)
    assert code == 0, out
    row = next(line for line in out.splitlines() if text_model in line)
    assert " chat " in row


def test_pulling_a_name_neither_catalogued_nor_locked_is_an_error_listing_the_known_ones(
    ollama_host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "pull", "gpt-9", "--host", ollama_host, "--lock", str(tmp_path / "none.lock")]
    code, out = run(args, capsys)
    assert code == 1
    assert "'gpt-9' is neither in the catalog nor in the lock" in out
    assert "moondream:latest" in out


def test_pulling_a_model_the_servers_ollama_cannot_run_is_refused_with_why_and_what_instead(
    ollama_host: str, gateway: OllamaGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before any byte is fetched: the catalog marks llama3.2-vision as not loading on this version."""
    args = ["models", "pull", "llama3.2-vision", "moondream", "--host", ollama_host, "--lock", str(tmp_path / "l")]
    code, out = run(args, capsys)
    assert code == 1
    text = " ".join(out.split())
    assert f"llama3.2-vision:11b does not run on Ollama {gateway.version()}:" in text
    assert "Use qwen2.5vl:7b instead." in text
    assert "moondream" not in {m.name.split(":")[0] for m in gateway.list_models()}  # nothing pulled, not even it
