"""The rehearsal cluster (`snap2prod sim`): kwokctl runs the real control plane, kwok plays GPU nodes.

Public face: ``Sim`` (up, down, status, a client), ``SimSpec`` (the nodes' shape), ``SimCluster`` (how to reach
it), ``CONTEXT``, ``SimError`` and ``register``. ``cluster`` drives kwokctl, ``kube`` talks to the API, ``nodes``
says what a fake GPU node looks like, ``command`` is the CLI.
"""

from scripts.gpu_shape import SimError, SimSpec
from scripts.sim.cluster import CONTEXT, START_TIMEOUT_S, Sim, SimCluster
from scripts.sim.command import register

__all__ = ["CONTEXT", "START_TIMEOUT_S", "Sim", "SimCluster", "SimError", "SimSpec", "register"]
