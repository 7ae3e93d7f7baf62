"""The model catalog and the Modelfile subset: what a valid catalog says, and how a broken one is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    CatalogEntry,
    GgufImport,
    Role,
    full_name,
    load_catalog,
    parse_modelfile,
    split_name,
)
from app.errors import CatalogError
from scripts import toolchain

# --- the shipped catalog ----------------------------------------------------------------------------------


def test_shipped_catalog_lists_the_models_of_issue_4() -> None:
    catalog = load_catalog()
    assert set(catalog.names) == {
        "llava:7b",
        "bakllava:7b",
        "moondream:latest",
        "llava-phi3:3.8b",
        "llama3.2-vision:11b",
        "qwen2.5vl:7b",
        "gemma3:4b",
        "mistral:latest",
        "snap2prod/smollm2:135m",
        "snap2prod/smolvlm-synthetic:135m",
    }


@pytest.mark.parametrize(
    ("name", "pixels"),
    [
        ("llava:7b", 336),
        ("bakllava:7b", 336),
        ("moondream:latest", 378),
        ("llava-phi3:3.8b", 336),
        ("llama3.2-vision:11b", 560),
        ("qwen2.5vl:7b", 896),
        ("gemma3:4b", 896),
    ],
)
def test_vision_models_carry_their_encoders_native_image_size(name: str, pixels: int) -> None:
    entry = load_catalog().get(name)
    assert entry.role is Role.VISION
    assert "vision" in entry.capabilities
    assert entry.image_size == pixels


def test_every_registry_model_says_its_layout_and_whether_the_pinned_ollama_runs_it() -> None:
    """What the load matrix (tests/integration/test_catalog_loads.py) checks must be there to check."""
    for entry in load_catalog().models:
        if entry.modelfile is None:
            assert entry.architecture is not None, entry.name
            assert toolchain.OLLAMA_VERSION in entry.ollama, entry.name
            if entry.role is Role.VISION and entry.ollama[toolchain.OLLAMA_VERSION].loads:
                assert entry.architecture.image_tokens is not None, entry.name


def test_chat_models_have_no_image_size_and_cannot_see() -> None:
    chat = [e for e in load_catalog().models if e.role is Role.CHAT]
    assert {e.name for e in chat} == {"mistral:latest", "snap2prod/smollm2:135m"}
    assert all(e.image_size is None and "vision" not in e.capabilities for e in chat)


def test_sizes_are_given_in_bytes_for_vram_planning() -> None:
    assert load_catalog().get("llava:7b").size_bytes == 4_700_000_000


def test_every_entry_of_the_shipped_catalog_has_a_comment_saying_where_its_figures_come_from() -> None:
    lines = DEFAULT_CATALOG.read_text().splitlines()
    entries = [i for i, line in enumerate(lines) if line.startswith("  - name: ")]
    assert len(entries) == len(load_catalog().models)
    for i in entries:
        assert lines[i - 1].strip().startswith("#"), f"{lines[i]} has no comment saying where its figures come from"


def test_the_demo_models_are_in_the_catalog_under_the_names_bootstrap_pulls() -> None:
    from scripts.demo import offline_models as bootstrap

    catalog = load_catalog()
    for name in (*bootstrap.ONLINE_MODELS, bootstrap.OFFLINE_MODEL):
        assert catalog.find(name) is not None, name


def test_a_name_without_tag_finds_the_single_entry_of_that_model() -> None:
    catalog = load_catalog()
    assert catalog.get("llava").name == "llava:7b"
    assert catalog.get("snap2prod/smollm2").name == "snap2prod/smollm2:135m"


def test_a_name_without_tag_that_fits_two_entries_finds_neither() -> None:
    catalog = Catalog(
        models=(
            CatalogEntry(name="llava:7b", role=Role.CHAT, size_gb=1),
            CatalogEntry(name="llava:13b", role=Role.CHAT, size_gb=1),
        )
    )
    assert catalog.find("llava") is None


def test_an_unknown_name_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"'gpt-9' is not in the catalog .*Known: llava:7b, bakllava:7b"):
        load_catalog().get("gpt-9")


# --- broken catalogs --------------------------------------------------------------------------------------


def _catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_a_missing_catalog_file_is_named() -> None:
    with pytest.raises(CatalogError, match=r"No model catalog at /nonexistent/catalog\.yaml"):
        load_catalog(Path("/nonexistent/catalog.yaml"))


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: a:1\n    role: [vision\n")
    with pytest.raises(CatalogError, match=r"catalog.yaml \(line \d\) is not valid YAML"):
        load_catalog(path)


def test_a_catalog_that_is_not_a_mapping_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="must be a mapping with a 'models' list"):
        load_catalog(_catalog(tmp_path, "- llava\n"))


def test_a_vision_model_without_image_size_is_rejected_with_its_name(tmp_path: Path) -> None:
    path = _catalog(
        tmp_path, "models:\n  - name: eye:1\n    role: vision\n    capabilities: [completion, vision]\n    size_gb: 1\n"
    )
    with pytest.raises(CatalogError, match=r"models\[0\] \(eye:1\): a vision model needs image_size"):
        load_catalog(path)


def test_a_vision_model_must_expect_the_vision_capability(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: eye:1\n    role: vision\n    image_size: 336\n    size_gb: 1\n")
    with pytest.raises(CatalogError, match="must list the 'vision' capability"):
        load_catalog(path)


def test_a_chat_model_with_an_image_size_is_rejected(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: talk:1\n    role: chat\n    image_size: 336\n    size_gb: 1\n")
    with pytest.raises(CatalogError, match="image_size is for vision models only"):
        load_catalog(path)


def test_an_unknown_role_names_the_allowed_ones(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: x:1\n    role: audio\n    size_gb: 1\n")
    with pytest.raises(CatalogError, match=r"models\[0\] \(x:1\)\.role: Input should be 'vision' or 'chat'"):
        load_catalog(path)


def test_a_misspelt_key_is_reported_not_ignored(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: x:1\n    role: chat\n    size_gb: 1\n    imagesize: 3\n")
    with pytest.raises(CatalogError, match=r"models\[0\] \(x:1\)\.imagesize: Extra inputs are not permitted"):
        load_catalog(path)


def test_a_model_that_does_not_load_must_say_what_fails_and_what_to_use_instead(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  - {name: a:1, role: chat, size_gb: 1, ollama: {'0.34.0': {loads: false, source: gone}}}\n"
    )
    with pytest.raises(CatalogError, match=r"models\[0\] \(a:1\)\.ollama\.0\.34\.0.*why \(one sentence\)"):
        load_catalog(path)


def test_a_chat_model_with_a_projector_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  - {name: a:1, role: chat, size_gb: 1, architecture: {text: llama, projector: mlp}}\n")
    with pytest.raises(CatalogError, match="projector is set for vision models, and only for them"):
        load_catalog(path)


def test_a_name_without_tag_is_rejected(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "models:\n  - name: llava\n    role: chat\n    size_gb: 1\n")
    with pytest.raises(CatalogError, match="'llava' is not an Ollama model name with its tag"):
        load_catalog(path)


def test_a_model_listed_twice_is_rejected(tmp_path: Path) -> None:
    entry = "  - name: x:1\n    role: chat\n    size_gb: 1\n"
    with pytest.raises(CatalogError, match="'x:1' is listed twice"):
        load_catalog(_catalog(tmp_path, "models:\n" + entry + entry))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _catalog(
        tmp_path,
        "models:\n  - name: a:1\n    role: chat\n    size_gb: -1\n  - name: b:1\n    role: nope\n    size_gb: 1\n",
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert "models[0] (a:1).size_gb" in str(caught.value)
    assert "models[1] (b:1).role" in str(caught.value)


# --- names ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llava", ("llava", "latest")),
        ("llava:7b", ("llava", "7b")),
        ("snap2prod/smollm2:135m", ("snap2prod/smollm2", "135m")),
        ("127.0.0.1:5000/ns/smollm2:135m", ("127.0.0.1:5000/ns/smollm2", "135m")),
        ("127.0.0.1:5000/ns/smollm2", ("127.0.0.1:5000/ns/smollm2", "latest")),
    ],
)
def test_names_split_into_model_and_tag_like_ollama_does(name: str, expected: tuple[str, str]) -> None:
    assert split_name(name) == expected
    assert full_name(name) == f"{expected[0]}:{expected[1]}"


# --- Modelfiles -------------------------------------------------------------------------------------------


def _modelfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.Modelfile"
    path.write_text(text)
    return path


def test_the_smollm2_modelfile_names_the_toolchains_gguf_and_the_bootstrap_parameters() -> None:
    catalog = load_catalog()
    source = parse_modelfile(catalog.modelfile_path(catalog.get("snap2prod/smollm2:135m")))
    assert (
        source.model_file == toolchain.tool_dir("smollm2", toolchain.SMOLLM2_PACKAGE_VERSION) / toolchain.SMOLLM2_GGUF
    )
    assert source.projector_file is None
    assert source.parameters == {"temperature": 0.2, "num_ctx": 2048}


def test_a_relative_from_is_taken_relative_to_the_modelfile(tmp_path: Path) -> None:
    source = parse_modelfile(_modelfile(tmp_path, "FROM ./weights/m.gguf\n"), variables={})
    assert source.model_file == tmp_path / "weights" / "m.gguf"


def test_variables_in_from_are_expanded(tmp_path: Path) -> None:
    path = _modelfile(tmp_path, "FROM ${SNAP2PROD_CACHE}/m.gguf\nFROM $WEIGHTS/p.gguf\n")
    source = parse_modelfile(path, variables={"SNAP2PROD_CACHE": "/cache", "WEIGHTS": "/w"})
    assert source == GgufImport(Path("/cache/m.gguf"), Path("/w/p.gguf"), {})


def test_snap2prod_cache_defaults_to_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNAP2PROD_CACHE", raising=False)
    source = parse_modelfile(_modelfile(tmp_path, "FROM ${SNAP2PROD_CACHE}/m.gguf\n"))
    assert source.model_file == Path.home() / ".cache" / "snap2prod" / "m.gguf"


def test_an_unset_variable_is_an_error_with_the_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"x.Modelfile:2: \$\{NOPE\} is not set"):
        parse_modelfile(_modelfile(tmp_path, "# weights\nFROM ${NOPE}/m.gguf\n"), variables={})


def test_a_second_from_is_the_projector(tmp_path: Path) -> None:
    source = parse_modelfile(_modelfile(tmp_path, "FROM /m/text.gguf\nFROM /m/mmproj.gguf\n"), variables={})
    assert (source.model_file, source.projector_file) == (Path("/m/text.gguf"), Path("/m/mmproj.gguf"))


def test_more_than_two_froms_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="3 FROM lines; at most two"):
        parse_modelfile(_modelfile(tmp_path, "FROM /a.gguf\nFROM /b.gguf\nFROM /c.gguf\n"), variables={})


def test_from_a_model_name_is_not_an_import(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"FROM must name a \.gguf file, not 'llama3'"):
        parse_modelfile(_modelfile(tmp_path, "FROM llama3\n"), variables={})


def test_a_modelfile_without_from_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="has no FROM line"):
        parse_modelfile(_modelfile(tmp_path, "PARAMETER temperature 1\n"), variables={})


def test_instructions_outside_the_subset_are_named_with_their_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"x.Modelfile:2: TEMPLATE is not supported"):
        parse_modelfile(_modelfile(tmp_path, "FROM /a.gguf\nTEMPLATE {{ .Prompt }}\n"), variables={})


def test_parameters_are_typed_and_stop_is_a_list(tmp_path: Path) -> None:
    text = (
        'FROM /a.gguf\nPARAMETER temperature 0.7\nPARAMETER num_ctx 4096\nPARAMETER stop "<|im_end|>"\n'
        "PARAMETER stop </s>\nparameter mirostat_eta 0.1\n"
    )
    source = parse_modelfile(_modelfile(tmp_path, text), variables={})
    assert source.parameters == {
        "temperature": 0.7,
        "num_ctx": 4096,
        "stop": ["<|im_end|>", "</s>"],
        "mirostat_eta": 0.1,
    }


def test_a_parameter_set_twice_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="PARAMETER temperature is set twice"):
        parse_modelfile(_modelfile(tmp_path, "FROM /a.gguf\nPARAMETER temperature 1\nPARAMETER temperature 2\n"))


def test_a_missing_gguf_is_reported_before_anything_is_uploaded(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"GGUF file .*/gone\.gguf does not exist"):
        GgufImport(tmp_path / "gone.gguf").check_files()


def test_a_file_that_is_not_gguf_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(CatalogError, match="is not a GGUF file"):
        GgufImport(fake).check_files()
