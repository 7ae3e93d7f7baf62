"""`promote --to kind --rehearse-prod`: what it layers, and the refusals that come before anything is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.lock import Lock, write_lock
from scripts.promote import pipeline
from scripts.promote.errors import TargetRefused
from scripts.promote.target import Target, kind_target, resolve_target
from scripts.promote.values import effective, merged_values


@pytest.mark.parametrize("to", ["sim", "prod"])
def test_a_rehearsal_goes_to_kind_only(to: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        resolve_target(to, "prod-cluster", None, yes=True, rehearsal=True)
    assert str(refused.value) == (
        f"--rehearse-prod rehearses production on the GPU-shaped KIND cluster: use it with --to kind, not --to {to}."
    )


def test_a_kind_target_needs_a_kind_context() -> None:
    with pytest.raises(TargetRefused, match=r"'prod-eu' is not a KIND context \(kind-NAME\); use --to prod for it"):
        kind_target("prod-eu", None)


def test_a_kind_cluster_without_a_gpu_shaped_worker_cannot_hold_a_rehearsal() -> None:
    with pytest.raises(TargetRefused) as refused:
        pipeline._rehearsal(Target("kind", None, "kind-snap2prod"))
    assert str(refused.value) == (
        "--rehearse-prod needs a GPU-shaped worker, and the KIND cluster of kind-snap2prod has none. Recreate it "
        "with one: `snap2prod kind down`, then `snap2prod kind up --gpus 1` (or let promote create it: it makes the "
        "cluster with one GPU when there is none)."
    )


def test_the_rehearsal_keeps_productions_shape_and_sizes_it_for_a_laptop(tmp_path: Path) -> None:
    lock = Lock(ollama_version="0.32.15")
    lock_path = write_lock(lock, tmp_path / "models.lock")
    rehearsal = effective(merged_values("kind", [], lock, lock_path, rehearsal=True))
    prod = effective(merged_values("prod", [], lock, lock_path))
    for key in ("gpu", "models"):
        assert rehearsal[key] == prod[key]
    assert rehearsal["ollama"]["env"] == prod["ollama"]["env"]
    assert (rehearsal["app"]["replicas"], rehearsal["app"]["pdb"]) == (prod["app"]["replicas"], prod["app"]["pdb"])
    assert rehearsal["app"]["service"]["sessionAffinity"] == prod["app"]["service"]["sessionAffinity"]
    assert rehearsal["ingress"]["enabled"] is False and prod["ingress"]["enabled"] is True
    assert rehearsal["ollama"]["resources"]["requests"] == {
        "cpu": "500m",
        "memory": "3Gi",
        "ephemeral-storage": "256Mi",
    }
    assert yaml.safe_load(lock_path.read_text()) == rehearsal["models"]["lock"]
