"""Promote's GPU-memory preflight counts what Ollama really loads: weights, KV cache and the vision projector.

The facts come from the real local Ollama's `/api/show` of the test models, the GPUs from the rehearsal cluster's
simulated A100 80 GB nodes. SmolLM2-135M is tiny (30 layers, 3 KV heads of 64: 23040 bytes of f16 KV cache per
token, trained on 8192 tokens), so the parallel slots carry the load: 512 slots × 8192 tokens is 90 GiB.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.gateway import OllamaGateway
from app.lock import Lock, pin, write_lock
from scripts import cli
from scripts.promote import memory
from scripts.sim import SimCluster
from tests.conftest import SIM_GROUP

pytestmark = pytest.mark.xdist_group(SIM_GROUP)  # kwok clusters are made on one worker

SMOLLM2_KV_BYTES_PER_TOKEN = 30 * 3 * (64 + 64) * 2  # layers × KV heads × (key + value dims) × f16


@pytest.fixture(scope="module")
def real_lock(gateway: OllamaGateway, text_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lock = Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [text_model])))
    return write_lock(lock, tmp_path_factory.mktemp("lock") / "models.lock")


def dry_run(cluster: SimCluster, tmp_path: Path, lock: Path, host: str, *args: str, **values: Any) -> tuple[int, Any]:
    """`snap2prod promote --to sim --dry-run` of a new release in a fresh namespace: preflight runs, nothing is
    created. Returns the exit code and the JSON report."""
    report, extra = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json", tmp_path / f"v-{uuid.uuid4().hex[:6]}.json"
    extra.write_text(json.dumps(values))
    argv = [
        "promote",
        "--to",
        "sim",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-n",
        f"mem-{uuid.uuid4().hex[:8]}",
        "--dry-run",
        "--lock",
        str(lock),
        "--host",
        host,
        "--values",
        str(extra),
        "--report",
        str(report),
        *args,
    ]
    code = cli.main(argv)
    return code, json.loads(report.read_text())


def checks(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}


def test_the_per_token_kv_size_comes_from_the_models_own_model_info(gateway: OllamaGateway, text_model: str) -> None:
    details = gateway.show(text_model)
    assert memory.kv_bytes_per_token(details.model_info) == SMOLLM2_KV_BYTES_PER_TOKEN
    assert details.context_length == 8192


def test_the_vision_projector_is_counted(gateway: OllamaGateway, text_model: str, vision_model: str) -> None:
    """Its weights are part of the model's size (/api/tags sums every layer); its compute buffer comes on top."""
    sizes = {m.name: m.size for m in gateway.list_models()}
    assert sizes[vision_model] > sizes[text_model]
    (vision,) = memory.read(gateway, Lock(ollama_version="x", models=tuple(pin(gateway, [vision_model])))).values()
    assert vision.projector > 0
    assert memory.projector_bytes(gateway.show(text_model).projector_info) == 0


def test_a_context_that_cannot_fit_is_refused_with_its_numbers(
    sim_cluster: SimCluster, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    code, report = dry_run(
        sim_cluster, tmp_path, real_lock, ollama_host, ollama={"env": {"numParallel": 512, "contextLength": 8192}}
    )
    assert (code, report["outcome"]) == (5, "PreflightFailed")
    error = report["error"]
    assert "✗ models fit in GPU memory: snap2prod/smollm2:135m needs 90." in error
    assert f"KV cache 90.00 GiB (512 parallel × 8192 tokens × {SMOLLM2_KV_BYTES_PER_TOKEN} B/token, f16)" in error
    assert "does not fit in 80.0 GiB (1 × 81920 MiB, label nvidia.com/gpu.memory)" in error
    assert "lower ollama.env.contextLength or numParallel" in error


def test_the_same_with_half_the_context_passes(
    sim_cluster: SimCluster, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    code, report = dry_run(
        sim_cluster, tmp_path, real_lock, ollama_host, ollama={"env": {"numParallel": 512, "contextLength": 4096}}
    )
    assert (code, report["outcome"]) == (0, "dry-run"), report.get("error")
    status, detail = checks(report)["models fit in GPU memory"]
    assert status == "ok"
    assert f"KV cache 45.00 GiB (512 parallel × 4096 tokens × {SMOLLM2_KV_BYTES_PER_TOKEN} B/token, f16)" in detail


def test_an_unset_context_length_warns_with_what_ollama_will_pick(
    sim_cluster: SimCluster, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    code, report = dry_run(sim_cluster, tmp_path, real_lock, ollama_host, ollama={"env": {"contextLength": None}})
    assert code == 0, report.get("error")
    status, detail = checks(report)["context length"]
    assert status == "warn"
    assert "OLLAMA_CONTEXT_LENGTH is unset" in detail and "here 262144 tokens on 80.0 GiB" in detail
    _, fits = checks(report)["models fit in GPU memory"]
    assert "× 8192 tokens ×" in fits  # Ollama caps the context at what the model was trained on


def test_from_lock_counts_the_weights_only_and_says_so(
    sim_cluster: SimCluster, real_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    code, report = dry_run(sim_cluster, tmp_path, real_lock, ollama_host, "--from-lock")
    assert code == 0, report.get("error")
    status, detail = checks(report)["models fit in GPU memory"]
    assert status == "warn" and "KV cache and projector not counted" in detail
