"""Shared real parts for integration tests: one rehearsal cluster (kwok + real control plane) for the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scripts.sim import Sim, SimCluster, SimSpec

SIM_TEST_SPEC = SimSpec(gpu_nodes=2, gpus_per_node=2, cpu_nodes=1)
"""Small on purpose: 2 GPU nodes with 2 GPUs each, so "more GPUs than any node has" is 3."""


@pytest.fixture(scope="session")
def sim_spec() -> SimSpec:
    """The shape of the shared sim cluster."""
    return SIM_TEST_SPEC


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    """The test run's own sim state dir, apart from a user's `snap2prod sim` cluster."""
    return Sim(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="session")
def sim_cluster(sim: Sim) -> Iterator[SimCluster]:
    """A running sim cluster (`SIM_TEST_SPEC`); use ``.kubeconfig`` and ``.context`` with helm or the client."""
    cluster = sim.up(SIM_TEST_SPEC)
    yield cluster
    sim.down()


@pytest.fixture(scope="session")
def sim_api(sim: Sim, sim_cluster: SimCluster) -> Iterator[Any]:
    """A kubernetes-client ApiClient for the sim cluster."""
    api = sim.api_client()
    yield api
    api.close()


@pytest.fixture(scope="session")
def mig_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sim, SimCluster]]:
    """A second rehearsal cluster: one A100-80GB partitioned 1g.10gb (mixed strategy: 7 slices, no whole GPU) and
    a CPU node. The MIG tests place pods on it; the production-context guard shows it as "another cluster"."""
    sim = Sim(tmp_path_factory.mktemp("sim-mig"))
    cluster = sim.up(SimSpec(gpu_nodes=1, gpus_per_node=1, cpu_nodes=1, mig="1g.10gb"))
    yield sim, cluster
    sim.down()
