"""The load matrix: each catalog model, as a tiny random-weight model of the same layout, on the pinned Ollama.

The catalog says, per Ollama version, which of its models load, read from that version's source; here the pinned
Ollama pulls each model's tiny stand-in from a registry (byte for byte, as from the library: tests/tiny_models.py),
is shown a picture and asked to answer. A model the catalog says loads must answer, and the picture must cost the
prompt positions the catalog says the real architecture spends; a model it says does not load must fail with the
error it names. The two models made here (SmolLM2 and the colour model) are proven by test_vision_path.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.catalog import CatalogEntry, load_catalog, split_name
from app.errors import Snap2ProdError
from app.gateway import ChatMessage, ChatStats, OllamaGateway
from scripts.toolchain import OLLAMA_VERSION
from tests import colour_pictures as pictures
from tests import models_fixtures, tiny_models
from tests.models_fixtures import Mirror, ScratchOllama, start_ollama

mirror_registry = models_fixtures.mirror_registry

CATALOG = load_catalog()
LIBRARY_MODELS = [e for e in CATALOG.models if not e.base.startswith("snap2prod/")]
OPTIONS = {"seed": 0, "temperature": 0, "num_predict": 3}


def test_every_model_a_registry_serves_has_a_tiny_stand_in() -> None:
    assert {e.name for e in LIBRARY_MODELS} == set(tiny_models.LIBRARY)


@pytest.fixture(scope="module")
def library_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchOllama]:
    """An Ollama of its own (its own models folder), so the tiny models never show up in another test's lists."""
    server, proc = start_ollama(tmp_path_factory.mktemp("library-ollama"))
    yield server
    server.gateway.close()
    proc.stop()


@pytest.fixture(params=LIBRARY_MODELS, ids=lambda e: e.name)
def pulled(
    request: pytest.FixtureRequest, library_ollama: ScratchOllama, mirror_registry: Mirror, tmp_path: Path
) -> tuple[CatalogEntry, str]:
    """The entry, and its tiny stand-in pulled from the registry into the library Ollama."""
    entry: CatalogEntry = request.param
    base, tag = split_name(entry.name)
    registry = mirror_registry.redirecting.address
    ref = tiny_models.publish(registry, f"tiny/{base}", tag, tiny_models.LIBRARY[entry.name], tmp_path)
    events = list(library_ollama.gateway.pull(ref, insecure=True))
    assert events[-1].status == "success", events[-3:]
    return entry, ref


def _ask(gateway: OllamaGateway, model: str, picture: bytes | None) -> ChatStats:
    images = (picture,) if picture is not None else ()
    stream = gateway.chat_stream(
        model, [ChatMessage("user", "What is in the picture?", images=images)], options=OPTIONS
    )
    stream.text()
    assert stream.stats is not None, f"{model} sent no final statistics"
    return stream.stats


def test_the_stand_in_has_the_layout_the_catalog_states(pulled: tuple[CatalogEntry, str]) -> None:
    entry, _ = pulled
    layout = tiny_models.LIBRARY[entry.name]
    assert entry.architecture is not None
    assert (entry.architecture.text, entry.architecture.projector) == (layout.text, layout.projector)
    assert entry.architecture.monolithic == (layout.projector is not None and layout.encoder is None)


def test_the_pinned_ollama_runs_what_the_catalog_says_it_runs(
    library_ollama: ScratchOllama, pulled: tuple[CatalogEntry, str]
) -> None:
    entry, model = pulled
    gateway = library_ollama.gateway
    runs = entry.ollama[OLLAMA_VERSION]
    picture = None
    if entry.image_size is not None:
        picture = pictures.png(pictures.plain("red", entry.image_size, entry.image_size))
    if not runs.loads:
        with pytest.raises(Snap2ProdError) as failed:
            _ask(gateway, model, picture)
        assert runs.error in str(failed.value)
        return
    without = _ask(gateway, model, None)
    assert without.eval_count > 0
    if picture is None:
        return
    assert entry.architecture is not None and entry.architecture.image_tokens is not None
    with_picture = _ask(gateway, model, picture)
    assert with_picture.eval_count > 0
    spent = with_picture.prompt_eval_count - without.prompt_eval_count
    assert spent == entry.architecture.image_tokens, (
        f"a {entry.image_size} px picture cost {entry.name}'s layout {spent} prompt positions, "
        f"the catalog says {entry.architecture.image_tokens}"
    )
