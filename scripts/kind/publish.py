"""Push the built images into the local registry; record the digests the registry serves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from scripts import signing
from scripts.kind import podman
from scripts.kind.images import read_images, write_images
from scripts.paths import CHART_IMAGES

ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def served_digest(address: str, repository: str, tag: str) -> str:
    """What the registry says the manifest's digest is (its Docker-Content-Digest header)."""
    url = f"http://{address}/v2/{repository}/manifests/{tag}"
    resp = httpx.head(url, headers={"Accept": ACCEPT}, timeout=10)
    if resp.status_code != 200:
        raise podman.EngineError(f"the registry does not serve {address}/{repository}:{tag} (HTTP {resp.status_code})")
    return str(resp.headers["Docker-Content-Digest"])


def push(address: str, log: Path) -> dict[str, Any]:
    """Push every built image to ``address`` (plain HTTP) and write the pushed part of the images file."""
    data = read_images()
    built = data.get("built")
    if not built:
        raise podman.EngineError("no images are built yet: run `snap2prod images build` first")
    before = data.get("pushed") or {}
    pushed: dict[str, Any] = {"registry": address}
    for name, image in sorted(built.items()):
        same = before.get(name) if before.get("registry") == address else None
        if same and same.get("id") == image.get("id") and _serves(address, same):
            pushed[name] = same  # these bytes are in the registry already (and signed, if "signed_key" says so)
            continue
        local_ref = str(image["ref"])
        if podman.inspect_image(local_ref) is None:
            raise podman.EngineError(f"{local_ref} is recorded but not in the engine: run `snap2prod images build`")
        repository, tag = local_ref.removeprefix("localhost/").rsplit(":", 1)
        target = f"{address}/{repository}:{tag}"
        with tempfile.NamedTemporaryFile(prefix="snap2prod-digest-") as digestfile:
            podman.run(
                ["push", "--quiet", "--tls-verify=false", "--digestfile", digestfile.name, local_ref, target], log=log
            )
            digest = Path(digestfile.name).read_text().strip()
        served = served_digest(address, repository, tag)
        if served != digest:
            raise podman.EngineError(f"pushed {target} as {digest} but the registry serves {served}")
        pushed[name] = {"repository": f"{address}/{repository}", "tag": tag, "digest": digest, "id": image.get("id")}
    keys = signing.ensure_keys()
    key_id = signing.key_id(keys.pub)
    for name in sorted(built):
        if pushed[name].get("signed_key") != key_id or not key_id:
            pushed[name]["signed"] = sign_pushed(pushed[name], built[name], keys, log)
            pushed[name]["signed_key"] = key_id
    data["pushed"] = pushed
    write_images(data)
    return pushed


def sign_pushed(entry: dict[str, Any], image: dict[str, Any], keys: signing.Keys, log: Path) -> str:
    """Sign the pushed digest and attach its SBOM, unless the registry has our signature already."""
    ref = f"{entry['repository']}@{entry['digest']}"
    try:
        return signing.verify(ref, keys.pub, use_record=False)
    except signing.Unverified:
        pass
    signing.sign(ref, keys.key)
    if image.get("sbom"):
        signing.attest_sbom(ref, Path(str(image["sbom"])), keys.key)
    with log.open("a") as out:
        out.write(f"signed {ref} with {keys.key}; SBOM {image.get('sbom') or 'none'} attached\n")
    return signing.verify(ref, keys.pub, use_record=False)


def _serves(address: str, entry: dict[str, Any]) -> bool:
    repository = str(entry["repository"]).removeprefix(f"{address}/")
    try:
        return served_digest(address, repository, str(entry["tag"])) == str(entry["digest"])
    except (podman.EngineError, httpx.HTTPError):
        return False


def chart_values(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pushed images as chart values (``app.image``, ``ollama.image``, ``apiGate.image``), or {} when nothing is
    pushed."""
    data = read_images() if data is None else data
    pushed = data.get("pushed") or {}
    return {
        name: {"image": {"repository": p["repository"], "tag": p["tag"], "digest": p["digest"]}}
        for name, p in pushed.items()
        if name in CHART_IMAGES
    }
