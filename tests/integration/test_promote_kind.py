"""`promote --to kind` for real: images by digest from the local registry, models pulled from its mirror by the
init container, probes by a real kubelet, verify through the API server's service proxy, helm test inference.

Runs against the KIND cluster of tests/integration/test_kind.py's kind (brought up here when missing). Each test
builds on the one before (from nothing → no-op → upgrade → a failure rolled back), as an operator would.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from scripts import cli
from scripts.kind import cluster
from scripts.kube import new_client
from scripts.promote import verify

NAMESPACE = "snap2prod-kind-test"
TIMEOUT = "900"


@pytest.fixture(scope="module")
def kind() -> cluster.UpResult:
    return cluster.up("snap2prod")


@pytest.fixture(scope="module")
def lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kind-lock")


def _promote(kind: cluster.UpResult, lock: Path, host: str, tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    report = tmp / f"report-{uuid.uuid4().hex[:6]}.json"
    argv = [
        "promote",
        "--to",
        "kind",
        "-n",
        NAMESPACE,
        "--lock",
        str(lock),
        "--host",
        host,
        "--timeout",
        TIMEOUT,
        "--report",
        str(report),
        *args,
    ]
    code = cli.main(argv)
    return code, json.loads(report.read_text())


def _pods(kind: cluster.UpResult) -> list[Any]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        from kubernetes import client

        return list(client.CoreV1Api(api).list_namespaced_pod(NAMESPACE).items)
    finally:
        api.close()


def _cluster_models(kind: cluster.UpResult) -> set[str]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        gateway = verify.cluster_ollama(api, NAMESPACE, "snap2prod-ollama")
        try:
            return {m.name for m in gateway.list_models()}
        finally:
            gateway.close()
    finally:
        api.close()


def test_promote_from_nothing_runs_the_stack_with_real_probes_and_real_inference(
    kind: cluster.UpResult,
    gateway: OllamaGateway,
    ollama_host: str,
    vision_model: str,
    lock_dir: Path,
    tmp_path: Path,
) -> None:
    lock = write_lock(
        Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [vision_model]))), lock_dir / "models.lock"
    )
    code, report = _promote(kind, lock, ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "promoted"
    assert report["app_image"].startswith("localhost:5001/snap2prod/app@sha256:")
    assert "localhost:5001/snap2prod/ollama:" in report["ollama_image"]
    assert report["verify"]["models"] == "1 locked model(s) served with their digests"
    assert report["verify"]["helm_test"] == "passed (real inference on the fixture picture)"
    pods = [p for p in _pods(kind) if p.metadata.labels.get("app.kubernetes.io/component") in ("app", "ollama")]
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        assert all(c.ready for c in pod.status.container_statuses)
    assert _cluster_models(kind) == {m.ref for m in read_lock(lock).models}


def test_promote_again_changes_nothing(
    kind: cluster.UpResult, ollama_host: str, lock_dir: Path, tmp_path: Path
) -> None:
    code, report = _promote(kind, lock_dir / "models.lock", ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "unchanged"
    assert report["revision"] == report["previous_revision"]


def test_an_upgrade_that_adds_a_model_pulls_it_from_the_mirror(
    kind: cluster.UpResult,
    gateway: OllamaGateway,
    ollama_host: str,
    text_model: str,
    lock_dir: Path,
    tmp_path: Path,
) -> None:
    lock_path = lock_dir / "models.lock"
    lock = read_lock(lock_path)
    write_lock(lock.merged(pin(gateway, [text_model]), gateway.version()), lock_path)
    code, report = _promote(kind, lock_path, ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "promoted" and report["revision"] == report["previous_revision"] + 1
    assert report["verify"]["models"] == "2 locked model(s) served with their digests"
    assert _cluster_models(kind) == {m.ref for m in read_lock(lock_path).models}


def test_a_digest_the_mirror_does_not_serve_fails_the_init_container_and_is_rolled_back(
    kind: cluster.UpResult, ollama_host: str, text_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    lock = read_lock(lock_dir / "models.lock")
    bogus = "sha256:" + "5" * 64
    models = tuple(
        m.model_copy(update={"digest": bogus, "mirror_digest": None}) if m.ref == text_model else m for m in lock.models
    )
    bad = write_lock(lock.model_copy(update={"models": models}), tmp_path / "bad.lock")
    before = _cluster_models(kind)
    code, report = _promote(kind, bad, ollama_host, tmp_path, "--from-lock", "--timeout", "150")
    assert code == 6, report
    assert report["outcome"] == "RolloutFailed"
    assert "rolled back" in report["error"]
    assert _cluster_models(kind) == before  # the previous revision answers a real request again
