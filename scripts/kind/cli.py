"""`snap2prod kind up / down / status` and `snap2prod images build / push`: real containers, offline."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from scripts.console import console
from scripts.gpu_shape import DEFAULT_PRODUCT
from scripts.kind import cluster, gpu
from scripts.kind import images as build
from scripts.paths import CHART_IMAGES

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A real KIND cluster on podman, offline.")
images = typer.Typer(no_args_is_help=True, add_completion=False, help="The stack's container images, offline.")


def register(cli: typer.Typer) -> None:
    """Add `snap2prod kind ...` and `snap2prod images ...`."""
    cli.add_typer(app, name="kind")
    cli.add_typer(images, name="images")


ConfigOption = typer.Option(cluster.KIND_CONFIG, "--config", help="the kind cluster config")
NameOption = typer.Option(None, "--name", help="cluster name (default: the name in stacks/local/kind.yaml)")


@app.command("up")
def up_command(
    name: str | None = NameOption,
    image: str | None = typer.Option(None, "--image", help="node image (default: kindest/node if present, else built)"),
    config: Path = ConfigOption,
    gpus: int = typer.Option(0, "--gpus", help="add a worker shaped like a node with N GPUs (pods run on CPU)"),
    gpu_product: str = typer.Option(DEFAULT_PRODUCT, "--gpu-product", help="the nvidia.com/gpu.product label"),
    mig: str | None = typer.Option(None, "--mig", help="advertise MIG slices of this profile, e.g. 1g.10gb"),
    gpu_memory_mib: int | None = typer.Option(None, "--gpu-memory-mib", help="GPU memory (unknown products)"),
) -> None:
    """Create the cluster (or reuse the one snap2prod made) and the local registry it pulls from."""
    done = cluster.up(
        name,
        config_path=config,
        image=image,
        gpus=gpus,
        gpu_product=gpu_product,
        mig=mig,
        gpu_memory_mib=gpu_memory_mib,
    )
    verb = "created" if done.created else "already running: nothing changed"
    console.print(f"kind cluster {done.name} {verb} ({done.seconds:.1f} s)", highlight=False)
    console.print(f"  node image  {done.image}", highlight=False, soft_wrap=True)
    if done.gpu is not None:
        console.print(
            f"  GPUs        {gpu.describe(done.gpu)}, run on CPU (RuntimeClass {gpu.RUNTIME_CLASS} is runc)",
            highlight=False,
        )
    console.print(f"  registry    {done.registry} (push here; the node pulls the same names)", highlight=False)
    console.print(
        f"  kubeconfig  {done.kubeconfig}  (kubectl --kubeconfig {done.kubeconfig} get nodes)",
        highlight=False,
        soft_wrap=True,
    )


@app.command("down")
def down_command(name: str | None = NameOption) -> None:
    """Remove the cluster and every container, volume and network `up` made."""
    removed = cluster.down(name)
    console.print("removed: " + ", ".join(removed) if removed else "nothing to remove", highlight=False)


@app.command("status")
def status_command(name: str | None = NameOption) -> None:
    """Whether the cluster exists, was made by snap2prod, has a Ready node, and the registry runs."""
    s = cluster.status(name)
    name = s.name
    if not s.exists:
        console.print(f"no kind cluster {name} (start it: `snap2prod kind up`)")
        raise typer.Exit(1)
    console.print(
        f"kind cluster {name}: {'Ready' if s.ready else 'NOT ready'}"
        f"{'' if s.ours else ' (not made by snap2prod)'}; registry {'up' if s.registry else 'down'}",
        highlight=False,
    )
    console.print(f"  GPU shape  {s.gpu}", highlight=False)
    console.print(f"  {s.detail}", highlight=False)
    console.print(f"  kubeconfig {s.kubeconfig}", highlight=False)
    raise typer.Exit(0 if s.ready and s.registry else 1)


@images.command("build")
def build_command(
    official: bool = typer.Option(
        False, "--official-bases", help="FROM python:3.11-slim-bookworm / debian:bookworm-slim (needs Docker Hub)"
    ),
) -> None:
    """Build the app, Ollama and API gate images (cached by content), write each one's SBOM (syft), and record them
    in build/images.yaml."""
    start = time.monotonic()
    built = build.build_all(official=official)
    for b in built.values():
        how = "cached" if b.cached else f"built in {b.seconds:.0f} s"
        console.print(f"{b.name:<7} {b.ref} {b.id[:19]}… ({how}); SBOM {b.sbom}", soft_wrap=True, highlight=False)
    console.print(f"recorded in {build.images_file()} ({time.monotonic() - start:.1f} s)", highlight=False)


KeyDirOption = typer.Option(None, "--dir", help="where to write cosign.key and cosign.pub")


@images.command("keygen")
def keygen_command(folder: Path | None = KeyDirOption) -> None:
    """Make the cosign key pair `images push` signs with and `promote` verifies against (COSIGN_PASSWORD, default
    empty, protects the private key). Elsewhere: SNAP2PROD_SIGNING_KEY / SNAP2PROD_SIGNING_PUB (a path or KMS URI)."""
    from scripts import signing

    keys = signing.keygen(folder)
    console.print(f"private key {keys.key}\npublic key  {keys.pub}", highlight=False)


@images.command("push")
def push_command() -> None:
    """Push the built images into the local registry (started if needed), sign each digest and attach its SBOM
    (cosign, offline); record the digests it serves."""
    from scripts.kind import publish, registry

    log = registry.state() / "push.log"
    endpoints = registry.up(log)
    pushed = publish.push(endpoints.push, log)
    for name in CHART_IMAGES:
        p = pushed[name]
        line = f"{name:<7} {p['repository']}:{p['tag']}@{p['digest']}; {p.get('signed', 'not signed')}"
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"recorded in {build.images_file()}", highlight=False)
