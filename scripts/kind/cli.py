"""`snap2prod kind up / down / status`: a real KIND cluster on podman, offline."""

from __future__ import annotations

from pathlib import Path

import typer

from scripts.kind import cluster
from scripts.progress import console

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
ConfigOption = typer.Option(cluster.KIND_CONFIG, "--config", help="the kind cluster config")
NameOption = typer.Option(None, "--name", help="cluster name (default: the name in stacks/local/kind.yaml)")


@app.command("up")
def up_command(
    name: str | None = NameOption,
    image: str | None = typer.Option(None, "--image", help="node image (default: kindest/node if present, else built)"),
    config: Path = ConfigOption,
) -> None:
    """Create the cluster (or reuse the one snap2prod made) and the local registry it pulls from."""
    done = cluster.up(name, config_path=config, image=image)
    verb = "created" if done.created else "already running: nothing changed"
    console.print(f"kind cluster {done.name} {verb} ({done.seconds:.1f} s)", highlight=False)
    console.print(f"  node image  {done.image}", highlight=False, soft_wrap=True)
    console.print(f"  registry    {done.registry} (push here; the node pulls the same names)", highlight=False)
    console.print(f"  kubeconfig  {done.kubeconfig}  (kubectl --kubeconfig {done.kubeconfig} get nodes)",
                  highlight=False, soft_wrap=True)  # fmt: skip


@app.command("down")
def down_command(name: str = typer.Option("snap2prod", "--name")) -> None:
    """Remove the cluster and every container, volume and network `up` made."""
    removed = cluster.down(name)
    console.print("removed: " + ", ".join(removed) if removed else "nothing to remove", highlight=False)


@app.command("status")
def status_command(name: str = typer.Option("snap2prod", "--name")) -> None:
    """Whether the cluster exists, was made by snap2prod, has a Ready node, and the registry runs."""
    s = cluster.status(name)
    if not s.exists:
        console.print(f"no kind cluster {name} (start it: `snap2prod kind up`)")
        raise typer.Exit(1)
    console.print(f"kind cluster {name}: {'Ready' if s.ready else 'NOT ready'}"
                  f"{'' if s.ours else ' (not made by snap2prod)'}; registry {'up' if s.registry else 'down'}",
                  highlight=False)  # fmt: skip
    console.print(f"  {s.detail}", highlight=False)
    console.print(f"  kubeconfig {s.kubeconfig}", highlight=False)
    raise typer.Exit(0 if s.ready and s.registry else 1)
