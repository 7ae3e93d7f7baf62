"""`make bench` cannot rot: every benchmark runs once here (one pair), against the same real parts as the suite
(P6's promotions in tests/integration/test_kind.py, on that module's cluster).

A smoke run only checks that each benchmark still measures and reports; timings are for `make bench`, so no
figure is compared with its target here, and nothing is written to bench/ or the README.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from kubernetes import client

from bench import api_gate, cpu_baseline, frame_pipeline, gateway_stream, ollama_upgrade, page_latency, promote
from bench.report import BenchResult
from scripts.sim import SimCluster
from tests.conftest import SIM_GROUP
from tests.kube import delete_namespace


def assert_measured(result: BenchResult, pid: str, numbers: tuple[str, ...]) -> None:
    assert result.id == pid and result.figures["runs"] == 1
    for name in numbers:
        value = result.figures[name]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (name, value)
    assert result.summary and result.target and result.notes


@pytest.fixture
def reuse_ollama(monkeypatch: pytest.MonkeyPatch, ollama_host: str, text_model: str) -> str:
    """The benchmarks use OLLAMA_HOST when set: the suite's own server, with the model already there."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    return ollama_host


def test_p1_frame_pipeline_runs() -> None:
    result = frame_pipeline.run(runs=1)
    assert_measured(result, "P1", ("pipeline ms", "fair baseline ms", "pipeline / fair", "sent KB"))
    assert result.figures["same bytes as baseline"] == "yes"  # the baseline does the same work, or it is not fair


def test_p2_gateway_stream_runs_with_the_observer_attached(reuse_ollama: str) -> None:
    result = gateway_stream.run(runs=1)
    assert_measured(result, "P2", ("raw TTFT ms", "gateway TTFT ms", "TTFT ratio", "total ratio"))
    assert result.figures["observed requests"] == 2  # the warm-up and the measured one went through Telemetry


def test_p3_page_latency_runs(reuse_ollama: str, vision_model: str) -> None:
    result = page_latency.run(runs=1)
    assert_measured(result, "P3", ("page ms", "raw TTFT ms"))


@pytest.mark.xdist_group(SIM_GROUP)  # with the other kwok tests, on one worker
def test_p4_promote_runs_on_the_shared_sim_cluster(reuse_ollama: str, sim_cluster: SimCluster, sim_api: Any) -> None:
    prefix = f"smoke-{uuid.uuid4().hex[:6]}"
    try:
        result = promote.run(runs=1, cluster=sim_cluster, prefix=prefix)
    finally:
        core = client.CoreV1Api(sim_api)
        for name in (f"{prefix}-0", f"{prefix}-raw-0"):
            delete_namespace(core, name)
    assert_measured(result, "P4", ("cold s", "raw helm --wait s", "cold / raw", "no-op s", "dry-run s"))


def test_p5_cpu_baseline_runs(text_model: str) -> None:
    """Baseline against itself (no native build in a smoke run): two real servers, the measuring code path."""
    result = cpu_baseline.run(runs=1, build_native=False)
    assert_measured(result, "P5", ("baseline tok/s", "native tok/s", "baseline / native"))


def test_p7_ollama_upgrade_runs_without_building_the_previous_version(text_model: str) -> None:
    """The pinned Ollama against itself: the smoke run must not build 0.32.15 (that is `make bench`'s work)."""
    result = ollama_upgrade.run(runs=1, build_previous=False)
    assert_measured(result, "P7", ("pinned tok/s", "previous tok/s", "pinned / previous"))
    assert "not built" in result.summary


def test_p8_api_gate_runs_a_describe_through_the_charts_nginx(reuse_ollama: str, vision_model: str) -> None:
    result = api_gate.run(runs=1)
    assert_measured(result, "P8", ("straight TTFT ms", "gate TTFT ms", "TTFT ratio", "total ratio"))
