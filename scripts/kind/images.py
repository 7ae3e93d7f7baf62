"""Build the app, Ollama and API gate images, cached by content, and record what was built in one file.

No network inside a build (`podman build --network none`): Debian-made bases and a host-built wheelhouse offline,
or the official bases with `official=True` (the wheelhouse is still used: pip inside a build cannot verify the
TLS-intercepting proxy here). The images file (``build/images.yaml``, or ``$SNAP2PROD_IMAGES``) is what
`snap2prod promote --to kind` reads once the images are pushed (scripts/kind/publish.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from scripts import signing, toolchain
from scripts.console import say
from scripts.kind import bases, podman

ROOT = Path(__file__).resolve().parents[2]
APP_REPO = "localhost/snap2prod/app"
OLLAMA_REPO = "localhost/snap2prod/ollama"
GATE_REPO = "localhost/snap2prod/api-gate"
OFFICIAL = {
    "app": "docker.io/library/python:3.11-slim-bookworm",
    "ollama": "docker.io/library/debian:bookworm-slim",
    "apiGate": "docker.io/nginxinc/nginx-unprivileged:1.28",
}
CONTENT_LABEL = "io.snap2prod.content"
APP_FILES = ("pyproject.toml", "app", "models/catalog.yaml")
"""The page and its core only: the CLI (scripts/) and its extra stay out of the image, and so does the README (an
edit of it must not rebuild the image)."""
IGNORED = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")


@dataclass(frozen=True)
class Built:
    """One local image: its reference, the engine's image id and the content key it was built from."""

    name: str
    ref: str
    id: str
    content: str
    base: str
    seconds: float = 0.0
    cached: bool = False
    sbom: str = ""
    """The image's SPDX SBOM (syft), kept by image id under the cache."""


def images_file() -> Path:
    return Path(os.environ.get("SNAP2PROD_IMAGES", ROOT / "build" / "images.yaml"))


def read_images(path: Path | None = None) -> dict[str, Any]:
    path = path or images_file()
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def write_images(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or images_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "# Written by `snap2prod images build` / `images push`: the images of the stack, by digest.\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(head + yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)
    return path


def tree_hash(root: Path) -> str:
    """sha256 over every file's relative path, mode and bytes: the content key of a build context."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root)}\0{path.stat().st_mode & 0o111}\0".encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*IGNORED, "*.pyc"), symlinks=False)
    else:
        shutil.copy2(src, dest)


def stage_app(dest: Path) -> None:
    for rel in APP_FILES:
        _copy(ROOT / rel, dest / rel)
    shutil.copy2(ROOT / "app" / "Dockerfile", dest / "Dockerfile")


def stage_ollama(dest: Path) -> None:
    home = toolchain.ensure("ollama")
    _copy(home / "bin" / "ollama", dest / "ollama" / "bin" / "ollama")
    _copy(home / "lib" / "ollama", dest / "ollama" / "lib" / "ollama")
    shutil.copy2(ROOT / "stacks" / "ollama" / "Dockerfile", dest / "Dockerfile")


def wheelhouse(log: Path) -> Path:
    """Binary wheels of the app's dependencies (and its build backend), downloaded on the host once."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    key = hashlib.sha256("\n".join([sys.version.split()[0], *reqs]).encode()).hexdigest()[:12]
    home = toolchain.cache_dir() / "images" / f"wheelhouse-{key}"
    if home.exists():
        return home
    part = home.with_name(home.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    say(f"  wheelhouse: downloading {len(reqs)} requirement(s) for Python {sys.version.split()[0]}")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "-d", str(part), *reqs]
    try:
        toolchain.run(cmd, log, what="building the wheelhouse failed: pip download", error=podman.EngineError)
    except podman.EngineError:
        shutil.rmtree(part, ignore_errors=True)
        raise
    part.replace(home)
    return home


def build_image(
    name: str, context: Path, ref: str, base: str, args: dict[str, str], log: Path, volumes: tuple[str, ...] = ()
) -> Built:
    """``podman build`` unless an image of this content key exists already."""
    key = hashlib.sha256(f"{tree_hash(context)}\n{base}\n{sorted(args.items())}".encode()).hexdigest()[:16]
    have = podman.inspect_image(ref)
    if have is not None and (have.get("Labels") or {}).get(CONTENT_LABEL) == key:
        return Built(name, ref, image_id(have), key, base, cached=True)
    start = time.monotonic()
    say(f"  image {name}: building {ref} on {base}")
    build_args = [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
    mounts = [a for v in volumes for a in ("--volume", v)]
    podman.run(
        [
            "build",
            "--network",
            "none",
            "--format",
            "docker",
            "--label",
            f"{CONTENT_LABEL}={key}",
            *build_args,
            *mounts,
            "-t",
            ref,
            "-f",
            str(context / "Dockerfile"),
            str(context),
        ],
        log=log,
    )
    have = podman.inspect_image(ref)
    assert have is not None
    seconds = time.monotonic() - start
    toolchain.note_build(f"image {name}", seconds)
    say(f"  image {name}: {ref} {have['Id'][:12]} in {seconds:.0f} s")
    return Built(name, ref, image_id(have), key, base, seconds)


def image_id(inspected: dict[str, Any]) -> str:
    raw = str(inspected["Id"])
    return raw if raw.startswith("sha256:") else f"sha256:{raw}"


def build_all(*, official: bool = False, log: Path | None = None) -> dict[str, Built]:
    """Every image; the result is recorded in the images file (the pushed part is kept when unchanged)."""
    log = log or toolchain.cache_dir() / "logs" / "images-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    app_base = OFFICIAL["app"] if official else bases.ensure(bases.PYTHON, log)
    ollama_base = OFFICIAL["ollama"] if official else bases.ensure(bases.SLIM, log)
    wheels = wheelhouse(log)
    built: dict[str, Built] = {}
    with tempfile.TemporaryDirectory(prefix="snap2prod-images-") as tmp:
        app_ctx, ollama_ctx = Path(tmp) / "app", Path(tmp) / "ollama"
        stage_app(app_ctx)
        stage_ollama(ollama_ctx)
        built["app"] = build_image(
            "app",
            app_ctx,
            f"{APP_REPO}:{tree_hash(app_ctx)[:12]}",
            app_base,
            {"PYTHON_IMAGE": app_base, "WHEELHOUSE": "/wheelhouse"},
            log,
            (f"{wheels}:/wheelhouse:ro",),
        )
        version = toolchain.OLLAMA_VERSION
        built["ollama"] = build_image(
            "ollama",
            ollama_ctx,
            f"{OLLAMA_REPO}:{version}",
            ollama_base,
            {"BASE_IMAGE": ollama_base, "OLLAMA_VERSION": version},
            log,
        )
        gate_ctx = Path(tmp) / "api-gate"
        gate_ctx.mkdir()
        shutil.copy2(ROOT / "stacks" / "api-gate" / "Dockerfile", gate_ctx / "Dockerfile")
        built["apiGate"] = build_image(
            "apiGate",
            gate_ctx,
            f"{GATE_REPO}:{tree_hash(gate_ctx)[:12]}",
            ollama_base,
            {"BASE_IMAGE": ollama_base},
            log,
        )
    built = {name: with_sbom(b, log) for name, b in built.items()}
    prune_superseded(built.values(), log)
    data = read_images()
    previous = data.get("built", {})
    data["built"] = {name: asdict(b) for name, b in built.items()}
    if any(previous.get(n, {}).get("id") != b.id for n, b in built.items()):
        data.pop("pushed", None)  # pushed digests of other bytes are stale now
    write_images(data)
    return built


def with_sbom(built: Built, log: Path) -> Built:
    """The image's SBOM, written by syft from the image's own layers (`podman save` as an OCI layout) once per
    image id."""
    out = toolchain.cache_dir() / "images" / "sboms" / f"{built.id.removeprefix('sha256:')[:16]}.spdx.json"
    if not out.exists():
        start = time.monotonic()
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="snap2prod-sbom-") as tmp:
            layout = Path(tmp) / "oci"
            podman.run(["save", "--quiet", "--format", "oci-dir", "-o", str(layout), built.ref], log=log)
            part = out.with_suffix(".part")
            signing.sbom(layout, part)
            part.replace(out)
        say(f"  image {built.name}: SBOM {out.name} in {time.monotonic() - start:.0f} s")
    return replace(built, sbom=str(out))


def prune_superseded(keep: Iterable[Built], log: Path) -> list[str]:
    """Remove our older builds (each app change is a new ~0.9 GB image) but the ones just built.

    Only images carrying our content label go, and none that another name of ours still tags: the node image's
    own images (kube-router, the storage provisioner) stay, or each `kind up` after a build made them again, with
    new IDs, and so a new node image. A running cluster is unaffected, it pulls from the registry.
    """
    kept = {b.id.removeprefix("sha256:") for b in keep}
    ours = {b.ref.rsplit(":", 1)[0] for b in keep}
    listed = podman.run(
        ["images", "--no-trunc", "--filter", f"label={CONTENT_LABEL}", "--format", "{{.ID}} {{.Repository}}"]
    )
    rows = [
        (i.removeprefix("sha256:"), repo) for i, repo in (line.split() for line in listed.splitlines() if line.strip())
    ]
    tagged_elsewhere = {i for i, repo in rows if repo != "<none>" and repo not in ours}
    stale = sorted({i for i, _ in rows} - kept - tagged_elsewhere)
    if stale:
        podman.run(["rmi", "--force", *stale], log=log, check=False)
    return stale
