"""The app's metrics as a real Prometheus 2.42 scrapes them, while requests go through the real Ollama.

One module-wide round of traffic (ok answers, an abandoned stream, errors from the real server and from
fault_ollama, dropped live frames) is driven through gateways that carry one ``Telemetry``; Prometheus scrapes
its /metrics every second, loads stacks/chart/files/alerts.yaml as a rule file, and every test asks it
through its HTTP API. A second ``Telemetry`` whose Ollama address answers nothing is scraped beside it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app import describe as uc
from app.errors import ModelCannotSeeImages, ModelNotFound, OllamaBusy, StreamBroken
from app.gateway import ChatMessage, ChatStats, OllamaGateway
from app.imaging import PreparedImage, prepare
from app.live import LatestOnly
from app.metrics import Telemetry
from scripts import toolchain
from scripts.processes import free_port
from tests.conftest import jpeg_bytes
from tests.fault_ollama import fault_ollama

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "stacks" / "chart" / "files" / "dashboard.json"
ALERTS = ROOT / "stacks" / "chart" / "files" / "alerts.yaml"
SHORT = {"seed": 7, "temperature": 0, "num_predict": 8}
HELLO = [ChatMessage("user", "Say hi.")]
GRAFANA_VARIABLES = {"$__rate_interval": "10m", "$model": ".*"}
"""How Grafana would fill the dashboard's variables: every model, a window that spans this module's traffic."""


REQUEST_LOGGER = "snap2prod.test-metrics.requests"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Traffic:
    """What the module's requests were, to compare with what Prometheus reports."""

    ok_stats: list[ChatStats] = field(default_factory=list)
    image: PreparedImage | None = None
    log: list[logging.LogRecord] = field(default_factory=list)
    dropped: int = 0
    requests: int = 0


# --- real parts ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def request_log() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def telemetry(ollama_host: str, text_model: str, vision_model: str, request_log: _Records) -> Iterator[Telemetry]:
    """The app's metrics for the real Ollama, served on a free loopback port."""
    probe = OllamaGateway(ollama_host, connect_timeout_s=2, first_token_timeout_s=5)
    tel = Telemetry(
        probe.list_models,
        reachable=probe.reachable,
        logger=logging.getLogger(REQUEST_LOGGER),
        locked=lambda: frozenset({text_model}),  # the vision model (installed too) is outside this lock
    )
    tel.serve(0, "127.0.0.1")
    yield tel
    tel.close()
    probe.close()


@pytest.fixture(scope="module")
def dead_telemetry() -> Iterator[Telemetry]:
    """Metrics of an app whose OLLAMA_HOST answers nothing (a port nobody listens on)."""
    nowhere = OllamaGateway(f"127.0.0.1:{free_port()}", connect_timeout_s=0.5, first_token_timeout_s=1)
    tel = Telemetry(nowhere.list_models, reachable=nowhere.reachable)
    tel.serve(0, "127.0.0.1")
    yield tel
    tel.close()
    nowhere.close()


def _port(tel: Telemetry) -> int:
    assert tel._server is not None
    return int(tel._server.server_port)


@pytest.fixture(scope="module")
def alert_groups() -> list[dict[str, Any]]:
    rule = yaml.safe_load(ALERTS.read_text())
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    telemetry: Telemetry,
    dead_telemetry: Telemetry,
    alert_groups: list[dict[str, Any]],
) -> Iterator[str]:
    """Prometheus scraping both app endpoints every second, with the alert rules loaded; its base URL."""
    home = tmp_path_factory.mktemp("prometheus")
    (home / "rules.yml").write_text(yaml.safe_dump({"groups": alert_groups}))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(home / "rules.yml")],
        "scrape_configs": [
            {"job_name": "snap2prod", "static_configs": [{"targets": [f"127.0.0.1:{_port(telemetry)}"]}]},
            {"job_name": "snap2prod-dead", "static_configs": [{"targets": [f"127.0.0.1:{_port(dead_telemetry)}"]}]},
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (home / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(toolchain.binary("prometheus")),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (home / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """An instant query through Prometheus's HTTP API; fails the test unless Prometheus says success."""
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by_labels(result: list[dict[str, Any]], *names: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(n, "") for n in names): float(r["value"][1]) for r in result}


def settled(prometheus: str, promql: str, expected: float, timeout_s: float = 20) -> float:
    """The scalar value of ``promql`` once it equals ``expected`` (scrapes are 1 s apart), else the last one."""
    deadline = time.monotonic() + timeout_s
    value = float("nan")
    while time.monotonic() < deadline:
        result = query(prometheus, promql)
        value = float(result[0]["value"][1]) if result else float("nan")
        if value == expected:
            break
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def traffic(
    prometheus: str,
    telemetry: Telemetry,
    ollama_host: str,
    text_model: str,
    vision_model: str,
    request_log: _Records,
) -> Traffic:
    """Drive every kind of request once or twice; returns what was sent, after Prometheus has scraped it all."""
    # Series start at 0 before the first request, so rate() sees it: wait until Prometheus has them.
    zero = f'snap2prod_chat_requests_total{{model="{text_model}",outcome="ok"}}'
    assert settled(prometheus, zero, 0.0) == 0.0
    done = Traffic()
    gw = OllamaGateway(ollama_host, observer=telemetry)
    try:
        for _ in range(2):  # two ok answers from the text model
            stream = gw.chat_stream(text_model, HELLO, options=SHORT)
            assert stream.text()
            assert stream.stats is not None
            done.ok_stats.append(stream.stats)
        with pytest.raises(StreamBroken):  # reading an answer twice is still one request
            stream.text()
        pieces = iter(gw.chat_stream(text_model, [ChatMessage("user", "Tell a long story.")], options=SHORT))
        next(pieces)
        pieces.close()  # a person leaves mid-answer: cancelled
        with pytest.raises(ModelCannotSeeImages):
            gw.chat_stream(text_model, [ChatMessage("user", "What is this?", images=(jpeg_bytes(),))])
        with pytest.raises(ModelNotFound):
            gw.chat_stream("no-such-model:1b", HELLO).text()
        raw = jpeg_bytes(1280, 960, seed=5)
        done.image = prepare(raw, uc.native_size(vision_model, None))
        described = uc.describe(gw, done.image, vision_model, uc.PRESETS["Describe this picture"])
        described.text()
        assert described.stats is not None
        done.ok_stats.append(described.stats)
    finally:
        gw.close()
    for fault, error in (("http_503", OllamaBusy), ("cut_mid_stream", StreamBroken)):
        with fault_ollama(fault) as url:
            faulty = OllamaGateway(url, observer=telemetry, first_token_timeout_s=5)
            with pytest.raises(error):
                faulty.chat_stream("m", HELLO).text()
            faulty.close()
    inbox: LatestOnly[bytes] = LatestOnly(on_drop=telemetry.frame_dropped)
    for i in range(4):
        inbox.put(bytes([i]))
    done.dropped = inbox.dropped
    done.requests = 8
    done.log = list(request_log.records)
    # Wait for the scrapes that carry it all; the tests say what is missing if it never arrives.
    settled(prometheus, "sum(snap2prod_chat_requests_total)", done.requests)
    settled(prometheus, "sum(snap2prod_live_frames_dropped_total)", done.dropped)
    return done


# --- counts per model and outcome ------------------------------------------------------------------------


def test_every_request_is_counted_once(prometheus: str, traffic: Traffic) -> None:
    [total] = query(prometheus, 'sum(snap2prod_chat_requests_total{job="snap2prod"})')
    assert float(total["value"][1]) == traffic.requests == 8


def test_ok_answers_are_counted_per_model(
    prometheus: str, traffic: Traffic, text_model: str, vision_model: str
) -> None:
    result = query(prometheus, 'sum by (model) (snap2prod_chat_requests_total{outcome="ok"}) > 0')
    assert by_labels(result, "model") == {(text_model,): 2.0, (vision_model,): 1.0}


def test_each_error_is_counted_under_its_class(prometheus: str, traffic: Traffic, text_model: str) -> None:
    result = query(prometheus, 'snap2prod_chat_requests_total{outcome!~"ok|cancelled"} > 0')
    assert by_labels(result, "model", "outcome") == {
        (text_model, "ModelCannotSeeImages"): 1.0,
        ("other", "ModelNotFound"): 1.0,  # a model that is not installed gets no label of its own
        ("other", "OllamaBusy"): 1.0,
        ("other", "StreamBroken"): 1.0,
    }


def test_an_abandoned_answer_is_counted_as_cancelled(prometheus: str, traffic: Traffic, text_model: str) -> None:
    result = query(prometheus, 'snap2prod_chat_requests_total{outcome="cancelled"} > 0')
    assert by_labels(result, "model") == {(text_model,): 1.0}


def test_increase_sees_the_first_request_of_a_model(prometheus: str, traffic: Traffic, vision_model: str) -> None:
    [row] = query(prometheus, f'sum(increase(snap2prod_chat_requests_total{{model="{vision_model}"}}[10m]))')
    assert float(row["value"][1]) > 0


# --- latency, tokens, images, live mode, reachability -----------------------------------------------------


def test_latency_histogram_is_filled_for_the_model_used(prometheus: str, traffic: Traffic, text_model: str) -> None:
    sel = f'{{model="{text_model}"}}'
    [count] = query(prometheus, f"snap2prod_chat_duration_seconds_count{sel}")
    [total] = query(prometheus, f"snap2prod_chat_duration_seconds_sum{sel}")
    assert float(count["value"][1]) == 2
    expected = sum(s.total_s for s in traffic.ok_stats if s.model == text_model)
    assert float(total["value"][1]) == pytest.approx(expected)
    [p95] = query(prometheus, f"histogram_quantile(0.95, sum by (le) (snap2prod_chat_duration_seconds_bucket{sel}))")
    assert float(p95["value"][1]) > 0


def test_ttft_histogram_is_filled_for_the_model_used(prometheus: str, traffic: Traffic, text_model: str) -> None:
    [total] = query(prometheus, f'snap2prod_chat_ttft_seconds_sum{{model="{text_model}"}}')
    expected = sum(s.ttft_s for s in traffic.ok_stats if s.model == text_model)
    assert expected > 0
    assert float(total["value"][1]) == pytest.approx(expected)


def test_generated_tokens_are_what_ollama_reported(prometheus: str, traffic: Traffic) -> None:
    result = query(prometheus, "snap2prod_chat_generated_tokens_total > 0")
    expected: dict[tuple[str, ...], float] = {}
    for s in traffic.ok_stats:
        expected[(s.model,)] = expected.get((s.model,), 0.0) + s.eval_count
    assert by_labels(result, "model") == expected


def test_tokens_per_second_is_observed_once_per_answer(prometheus: str, traffic: Traffic, text_model: str) -> None:
    [count] = query(prometheus, f'snap2prod_chat_tokens_per_second_count{{model="{text_model}"}}')
    [total] = query(prometheus, f'snap2prod_chat_tokens_per_second_sum{{model="{text_model}"}}')
    assert float(count["value"][1]) == 2
    expected = sum(s.tokens_per_s for s in traffic.ok_stats if s.model == text_model)
    assert float(total["value"][1]) == pytest.approx(expected) and expected > 0


def test_picture_bytes_are_recorded_before_and_after_resizing(
    prometheus: str, traffic: Traffic, vision_model: str
) -> None:
    assert traffic.image is not None
    result = query(prometheus, f'snap2prod_image_bytes_sum{{model="{vision_model}"}}')
    assert by_labels(result, "stage") == {
        ("original",): traffic.image.original_bytes,
        ("sent",): traffic.image.sent_bytes,
    }
    assert traffic.image.sent_bytes < traffic.image.original_bytes


def test_dropped_live_frames_are_counted(prometheus: str, traffic: Traffic) -> None:
    [row] = query(prometheus, 'snap2prod_live_frames_dropped_total{job="snap2prod"}')
    assert float(row["value"][1]) == traffic.dropped == 3


def test_ollama_up_is_1_for_a_running_server_and_0_for_none(prometheus: str, traffic: Traffic) -> None:
    assert settled(prometheus, 'snap2prod_ollama_up{job="snap2prod-dead"}', 0.0) == 0.0
    result = query(prometheus, "snap2prod_ollama_up")
    assert by_labels(result, "job") == {("snap2prod",): 1.0, ("snap2prod-dead",): 0.0}


def test_one_log_record_per_request_carries_the_models_digest(
    traffic: Traffic, gateway: OllamaGateway, text_model: str
) -> None:
    assert len(traffic.log) == traffic.requests
    digest = next(m.digest for m in gateway.list_models() if m.name == text_model)
    fields = [r.__dict__["fields"] for r in traffic.log]
    ok = [f for f in fields if f["model"] == text_model and f["outcome"] == "ok"]
    assert len(ok) == 2
    assert all(f["digest"] == digest and f["total_ms"] > 0 for f in ok)


# --- the dashboard and the alert rules -------------------------------------------------------------------


def _grafana(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    panels = [p for top in board["panels"] for p in [top, *top.get("panels", [])]]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def test_the_dashboard_is_grafana_json_with_queries() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "snap2prod" and board["schemaVersion"] >= 36
    assert len(dashboard_queries()) >= 10


@pytest.mark.parametrize(("title", "expr"), dashboard_queries(), ids=[t for t, _ in dashboard_queries()])
def test_each_dashboard_query_is_accepted_and_shows_this_traffic(
    prometheus: str, traffic: Traffic, title: str, expr: str
) -> None:
    assert query(prometheus, _grafana(expr)), f"{title}: no series for {expr}"


def test_the_model_variable_lists_the_models_used(prometheus: str, traffic: Traffic, text_model: str) -> None:
    board = json.loads(DASHBOARD.read_text())
    variable = next(v for v in board["templating"]["list"] if v["name"] == "model")
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
    assert match is not None
    metric, label = match.groups()
    values = {r["metric"][label] for r in query(prometheus, f"count by ({label}) ({metric})")}
    assert text_model in values and "other" in values


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["spec"]["groups"]
    return [r for g in groups for r in g["rules"]]


def test_the_alerts_cover_unreachable_error_rate_and_p95_latency() -> None:
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert "snap2prod_ollama_up" in exprs["Snap2ProdOllamaUnreachable"]
    assert 'outcome!~"ok|cancelled"' in exprs["Snap2ProdHighErrorRate"]
    assert "histogram_quantile(0.95" in exprs["Snap2ProdSlowAnswers"]


@pytest.mark.parametrize("rule", alert_rules(), ids=[r["alert"] for r in alert_rules()])
def test_each_alert_expression_is_accepted_and_its_metrics_exist(
    prometheus: str, traffic: Traffic, rule: dict[str, Any]
) -> None:
    query(prometheus, rule["expr"])
    for metric in set(re.findall(r"snap2prod_\w+", rule["expr"])):
        assert query(prometheus, f"count({metric})"), f"{rule['alert']}: {metric} has no series"


def test_prometheus_loaded_every_alert_rule_and_evaluates_it(prometheus: str, traffic: Traffic) -> None:
    deadline = time.monotonic() + 10
    while True:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        if all(r.get("lastEvaluation", "").startswith("20") for r in rules.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(rules) == {r["alert"] for r in alert_rules()}
    assert {name: r["health"] for name, r in rules.items()} == dict.fromkeys(rules, "ok")


def test_a_model_outside_the_lock_has_a_series_and_the_alert_selects_it(
    prometheus: str, traffic: Traffic, text_model: str, vision_model: str
) -> None:
    """The app's lock names the text model only; the real Ollama also holds the vision model (and whatever else
    the run made), so those are outside it, and the text model never is."""
    outside = {r["metric"]["model"] for r in query(prometheus, 'snap2prod_model_outside_lock{job="snap2prod"}')}
    assert vision_model in outside and text_model not in outside
    rule = next(r for r in alert_rules() if r["alert"] == "Snap2ProdModelOutsideLock")
    assert vision_model in {r["metric"]["model"] for r in query(prometheus, rule["expr"])}
    assert not query(prometheus, 'snap2prod_model_outside_lock{job="snap2prod-dead"}')  # no lock, no series


def test_the_unreachable_alert_selects_only_the_app_without_ollama(prometheus: str, traffic: Traffic) -> None:
    rule = next(r for r in alert_rules() if r["alert"] == "Snap2ProdOllamaUnreachable")
    assert {r["metric"]["job"] for r in query(prometheus, rule["expr"])} == {"snap2prod-dead"}


def test_the_error_rate_alert_selects_the_models_with_errors(
    prometheus: str, traffic: Traffic, text_model: str
) -> None:
    rule = next(r for r in alert_rules() if r["alert"] == "Snap2ProdHighErrorRate")
    assert {r["metric"]["model"] for r in query(prometheus, rule["expr"])} == {text_model, "other"}


# --- the process's Telemetry, as the page starts it --------------------------------------------------------

START = """
import sys, urllib.request
from app.metrics import start
first, second = start(), start()
assert first is second
if first._server is not None:
    sys.stdout.write(urllib.request.urlopen(f"http://127.0.0.1:{first._server.server_port}/metrics").read().decode())
"""


def _start_in_a_process(ollama_host: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "OLLAMA_HOST": ollama_host,
        "SNAP2PROD_METRICS_PORT": str(port),
        "SNAP2PROD_METRICS_ADDR": "127.0.0.1",
        "SNAP2PROD_LOG_FORMAT": "json",
    }
    return subprocess.run(
        [sys.executable, "-c", START], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )


def test_start_serves_the_metrics_port_from_the_environment(ollama_host: str) -> None:
    done = _start_in_a_process(ollama_host, free_port())
    assert "snap2prod_ollama_up 1.0" in done.stdout
    [record] = [json.loads(line) for line in done.stderr.splitlines()]
    assert record["msg"] == "metrics" and record["url"].startswith("http://127.0.0.1:")


def test_a_busy_metrics_port_is_a_warning_not_a_crash(ollama_host: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _start_in_a_process(ollama_host, taken.getsockname()[1])
    [record] = [json.loads(line) for line in done.stderr.splitlines()]
    assert record["level"] == "warning" and record["msg"] == "metrics endpoint not served"
    assert done.stdout == ""
