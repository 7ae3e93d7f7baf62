"""Label bounding, outcome names and the request log record, without a server: the model list is plain data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from app import errors, logs
from app.gateway import ChatStats, ModelInfo
from app.metrics import OUTCOMES, ModelDirectory, Telemetry, outcome_of
from app.settings import Settings

DIGEST = "a817b5dc" + "0" * 56
INSTALLED = [ModelInfo("moondream:latest", DIGEST, 1), ModelInfo("snap2prod/smollm2:135m", "b" * 64, 2)]


def stats(model: str = "moondream:latest") -> ChatStats:
    return ChatStats(
        model=model,
        text="a cat",
        ttft_s=0.25,
        total_s=1.5,
        prompt_eval_count=12,
        eval_count=30,
        eval_duration_s=0.6,
        load_duration_s=0.1,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def model_labels(telemetry: Telemetry) -> set[str]:
    return {s.labels["model"] for metric in telemetry.registry.collect() for s in metric.samples if "model" in s.labels}


# --- label bounding ---------------------------------------------------------------------------------


def test_an_installed_model_is_its_own_label() -> None:
    assert ModelDirectory(lambda: INSTALLED).label("moondream:latest") == "moondream:latest"


def test_a_model_that_is_not_installed_is_labelled_other() -> None:
    assert ModelDirectory(lambda: INSTALLED).label("llava:34b") == "other"


def test_a_name_without_a_tag_is_read_as_latest_like_ollama_does() -> None:
    assert ModelDirectory(lambda: INSTALLED).label("moondream") == "moondream:latest"


def test_the_label_set_is_capped_at_max_models() -> None:
    many = [ModelInfo(f"m{i:03}:latest", "d", 1) for i in range(100)]
    directory = ModelDirectory(lambda: many, max_models=10)
    labels = {directory.label(m.name) for m in many}
    assert labels == {f"m{i:03}:latest" for i in range(10)} | {"other"}


def test_a_model_installed_later_gets_its_label_after_the_miss_refresh() -> None:
    installed = list(INSTALLED)
    clock = Clock()
    directory = ModelDirectory(lambda: installed, miss_refresh_s=2.0, refresh_s=30.0, clock=clock)
    assert directory.label("llava:7b") == "other"
    installed.append(ModelInfo("llava:7b", "c" * 64, 3))
    clock.now = 1.0
    assert directory.label("llava:7b") == "other"
    clock.now = 2.5
    assert directory.label("llava:7b") == "llava:7b"


def test_an_unreachable_ollama_keeps_the_last_known_labels() -> None:
    answers: list[list[ModelInfo] | None] = [INSTALLED, None]

    def list_models() -> list[ModelInfo]:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer is None:
            raise errors.OllamaUnreachable("http://127.0.0.1:9", "connection refused")
        return answer

    clock = Clock()
    directory = ModelDirectory(list_models, refresh_s=30.0, clock=clock)
    assert directory.label("moondream") == "moondream:latest"
    clock.now = 60.0
    assert directory.lookup("moondream") == ("moondream:latest", DIGEST)


def series(telemetry: Telemetry) -> int:
    return sum(len(metric.samples) for metric in telemetry.registry.collect())


def test_requests_for_any_number_of_unknown_models_add_no_series() -> None:
    telemetry = Telemetry(lambda: INSTALLED)
    telemetry.chat_finished(stats())
    before = series(telemetry)
    for i in range(200):
        telemetry.chat_failed(f"random-{i}:1b", errors.ModelNotFound(f"random-{i}:1b"), 0.01)
        telemetry.image_prepared(f"random-{i}:1b", 1000, 500)
    assert series(telemetry) == before
    assert model_labels(telemetry) == {"moondream:latest", "snap2prod/smollm2:135m", "other"}


def test_series_of_an_installed_model_exist_at_zero_before_its_first_request() -> None:
    telemetry = Telemetry(lambda: INSTALLED)
    telemetry.models.refresh()
    value = telemetry.registry.get_sample_value(
        "snap2prod_chat_requests_total", {"model": "snap2prod/smollm2:135m", "outcome": "ok"}
    )
    assert value == 0.0


# --- outcomes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "OllamaUnreachable",
        "ModelNotFound",
        "ModelCannotSeeImages",
        "OllamaTimeout",
        "OllamaBusy",
        "StreamBroken",
        "OllamaError",
        "ImageRejected",
        "CameraUnavailable",
        "CatalogError",
        "LockError",
        "DigestMismatch",
        "RegistryError",
    ],
)
def test_an_error_of_app_errors_is_counted_under_its_class_name(name: str) -> None:
    """The errors of app/errors.py written out here: a list taken from the code would shrink with the code."""
    cls = getattr(errors, name)
    assert outcome_of(cls.__new__(cls)) == name


def test_the_network_errors_of_the_gateway_are_among_the_outcomes() -> None:
    expected = {"OllamaUnreachable", "ModelNotFound", "ModelCannotSeeImages", "OllamaTimeout", "OllamaBusy"}
    assert expected | {"StreamBroken", "OllamaError", "ok", "cancelled", "unexpected"} <= set(OUTCOMES)


def test_an_abandoned_stream_is_cancelled() -> None:
    assert outcome_of(GeneratorExit()) == "cancelled"


def test_an_error_from_outside_app_errors_is_unexpected() -> None:
    class PluginError(errors.Snap2ProdError):
        pass

    assert outcome_of(ValueError("x")) == "unexpected"
    assert outcome_of(PluginError("x")) == "unexpected"


# --- the request log record ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_handler_left() -> Iterator[None]:
    yield
    logger = logging.getLogger(logs.LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


@pytest.fixture
def json_log() -> io.StringIO:
    buffer = io.StringIO()
    logs.configure("json", stream=buffer)
    return buffer


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_finished_request_is_one_json_line_with_model_digest_timings_and_outcome(json_log: io.StringIO) -> None:
    Telemetry(lambda: INSTALLED).chat_finished(stats("moondream"))
    [record] = records(json_log)
    assert record["msg"] == "chat" and record["level"] == "info" and record["logger"] == "snap2prod.requests"
    assert record["model"] == "moondream" and record["digest"] == DIGEST and record["outcome"] == "ok"
    assert (record["ttft_ms"], record["total_ms"], record["load_ms"]) == (250.0, 1500.0, 100.0)
    assert (record["prompt_tokens"], record["eval_tokens"], record["tokens_per_s"]) == (12, 30, 50.0)
    assert str(record["ts"]).endswith("Z")


def test_a_failed_request_logs_its_error_class_and_message(json_log: io.StringIO) -> None:
    Telemetry(lambda: INSTALLED).chat_failed("llava:34b", errors.ModelNotFound("llava:34b"), 0.0123)
    [record] = records(json_log)
    assert record["level"] == "warning" and record["outcome"] == "ModelNotFound"
    assert record["model"] == "llava:34b" and record["digest"] == "" and record["total_ms"] == 12.3
    assert "snap2prod models pull llava:34b" in str(record["error"])


def test_text_format_is_one_readable_line_per_request() -> None:
    buffer = io.StringIO()
    logs.configure("text", stream=buffer)
    Telemetry(lambda: INSTALLED).chat_finished(stats())
    [line] = buffer.getvalue().splitlines()
    assert " INFO snap2prod.requests chat model=moondream:latest digest=" in line
    assert "outcome=ok ttft_ms=250.0 total_ms=1500.0" in line


def test_configuring_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.configure("json", stream=first)
    logs.configure("json", stream=second)
    logging.getLogger("snap2prod.requests").info("chat")
    assert first.getvalue() == "" and second.getvalue().count("\n") == 1


# --- settings -------------------------------------------------------------------------------------------


def test_metrics_port_and_log_format_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAP2PROD_METRICS_PORT", "9999")
    monkeypatch.setenv("SNAP2PROD_LOG_FORMAT", "json")
    s = Settings()
    assert (s.metrics_port, s.log_format) == (9999, "json")


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAP2PROD_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()
