"""Shared real parts for integration tests, one of each for the whole run: a rehearsal cluster (kwok + a real control
plane) and a KIND cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scripts.kind import cluster
from scripts.sim import Sim, SimCluster, SimSpec
from tests.kind_cluster import KIND_GPUS, KIND_NAME, KindRun, node_images

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


# --- the run's one KIND cluster ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kind_cluster() -> Iterator[KindRun]:
    """The run's one KIND cluster, `kind up --gpus 2` with stacks/local/kind.yaml's host ports: a control plane
    and a GPU-shaped worker. Every KIND test shares it, as add-ons to one cluster (P6's smoke run, test_kind's
    promotions on the control plane, test_kind_gpu's production rehearsal on the worker); test_kind_gpu's last
    test takes it down with `kind down` and checks that nothing is left."""
    before = node_images()
    up = cluster.up(KIND_NAME, gpus=KIND_GPUS)
    try:
        yield KindRun(up, before)
    finally:
        if KIND_NAME in cluster.clusters():
            cluster.down(KIND_NAME)
