"""`snap2prod sim up|down|status`: the rehearsal cluster's commands."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from scripts import toolchain
from scripts.console import console, out
from scripts.gpu_shape import DEFAULT_PRODUCT, SimSpec
from scripts.sim.cluster import CONTEXT, Sim

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A rehearsal cluster with simulated GPU nodes.")
DirOption = typer.Option(None, "--dir", envvar="SNAP2PROD_SIM_DIR", help="state dir (default: the cache's sim/)")


@app.command("up")
def up_command(
    gpu_nodes: int = typer.Option(1, help="simulated GPU nodes"),
    gpus_per_node: int = typer.Option(8, help="GPUs on each GPU node"),
    cpu_nodes: int = typer.Option(1, help="CPU-only nodes (8 cpu, 32Gi)"),
    gpu_product: str = typer.Option(DEFAULT_PRODUCT, help="the nvidia.com/gpu.product label"),
    gpu_memory_mib: int | None = typer.Option(None, help="the nvidia.com/gpu.memory label (default: the product's)"),
    mig: str | None = typer.Option(None, help="MIG profile, e.g. 1g.10gb: nodes offer nvidia.com/mig-<profile>"),
    port: int = typer.Option(0, help="API server port (default: a free one)"),
    state: Path | None = DirOption,
) -> None:
    """Start the rehearsal cluster (or make a running one match these flags) and print how to use it."""
    spec = SimSpec(gpu_nodes, gpus_per_node, cpu_nodes, gpu_product, gpu_memory_mib, mig)
    start = time.monotonic()
    cluster = Sim(state).up(spec, port=port)
    console.print(f"sim cluster ready in {time.monotonic() - start:.1f} s at {cluster.server}", soft_wrap=True)
    kubectl = toolchain.binary("kubectl")
    out.print(
        f"export KUBECONFIG={cluster.kubeconfig}   # context {cluster.context}\n"
        f"{kubectl} get nodes -L nvidia.com/gpu.product   # or any kubectl\n"
        f"{toolchain.binary('helm')} list -A\n"
        "snap2prod sim status   # nodes and GPUs free/used\n"
        "snap2prod sim down     # stop it and delete its state",
        highlight=False,
        soft_wrap=True,
    )


@app.command("down")
def down_command(state: Path | None = DirOption) -> None:
    """Stop the rehearsal cluster and delete its state."""
    console.print("sim cluster stopped and removed" if Sim(state).down() else "no sim cluster was running")


@app.command("status")
def status_command(state: Path | None = DirOption) -> None:
    """Show the nodes and their GPUs free/used; exits 1 when no cluster runs."""
    status = Sim(state).status()
    if not status.running:
        out.print("sim cluster: not running (`snap2prod sim up` starts it)")
        raise typer.Exit(1)
    table = Table(title=f"sim cluster at {status.server}  (KUBECONFIG={status.kubeconfig}, context {CONTEXT})")
    for column in ("node", "pool", "ready", "resource", "total", "used", "free"):
        table.add_column(column, justify="right" if column in ("total", "used", "free") else "left")
    for n in status.nodes:
        counts = (str(n.allocatable), str(n.used), str(n.free)) if n.resource else ("-", "-", "-")
        table.add_row(n.name, n.pool, "yes" if n.ready else "NO", n.resource or "-", *counts)
    out.print(table)
    total = sum(n.allocatable for n in status.nodes)
    used = sum(n.used for n in status.nodes)
    out.print(
        f"GPUs: {used} used, {total - used} free of {total}; pods: {status.pods_running} running, "
        f"{status.pods_pending} pending"
    )


def register(cli: typer.Typer) -> None:
    """Add `snap2prod sim ...` to the `snap2prod` command."""
    cli.add_typer(app, name="sim")
