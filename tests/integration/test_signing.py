"""Images you can trace (scripts/signing.py), with the real cosign and syft against a real registry on loopback.

Two tiny images are pushed with crane; one is signed and gets its SBOM attached as an attestation. Verification
passes for it with its key and is refused, with cosign's reason, for the unsigned image, for another key, and for an
image that carries only an attestation. Every command runs once more under strace in a child process: each
connection any of them opens goes to this machine (loopback or a local socket), never outside.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts import signing, toolchain
from scripts.promote.errors import ParityFailed
from scripts.promote.images import SigningPolicy, check_provenance
from tests.models_fixtures import Registry, start_distribution


@dataclass(frozen=True)
class Images:
    registry: Registry
    signed: str
    unsigned: str
    attested_only: str
    keys: signing.Keys
    other: signing.Keys
    sbom: Path


def _pull_layout(ref: str, layout: Path) -> None:
    """The image as an OCI layout on disk (what `podman save --format oci-dir` writes for a built image)."""
    crane = str(toolchain.binary("crane"))
    subprocess.run([crane, "pull", "--insecure", "--format", "oci", ref, str(layout)], check=True, capture_output=True)


def _push(registry: Registry, name: str, content: bytes, tmp: Path) -> str:
    """A one-layer image (one file) pushed with crane; returns repository@digest."""
    layer = tmp / f"{name}.tar"
    payload = tmp / f"{name}.txt"
    payload.write_bytes(content)
    with tarfile.open(layer, "w") as tar:
        tar.add(payload, arcname=f"{name}.txt")
    crane = str(toolchain.binary("crane"))
    ref = f"{registry.address}/traced/{name}:1"
    subprocess.run([crane, "append", "--insecure", "-f", str(layer), "-t", ref], check=True, capture_output=True)
    digest = subprocess.run(
        [crane, "digest", "--insecure", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    return f"{registry.address}/traced/{name}@{digest}"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    tmp = tmp_path_factory.mktemp("signing")
    registry = start_distribution(tmp, tmp / "storage", redirect_to=None, name="signed-registry")
    signed, unsigned, attested = (_push(registry, n, n.encode() * 100, tmp) for n in ("one", "two", "three"))
    keys, other = signing.keygen(tmp / "ours"), signing.keygen(tmp / "theirs")
    layout = tmp / "layout"
    crane = str(toolchain.binary("crane"))
    subprocess.run(
        [crane, "pull", "--insecure", "--format", "oci", signed, str(layout)], check=True, capture_output=True
    )
    sbom = signing.sbom(layout, tmp / "one.spdx.json")
    signing.sign(signed, keys.key)
    signing.attest_sbom(signed, sbom, keys.key)
    signing.attest_sbom(attested, sbom, keys.key)
    yield Images(registry, signed, unsigned, attested, keys, other, sbom)


def test_the_sbom_is_spdx_of_the_images_own_files(images: Images) -> None:
    document = json.loads(images.sbom.read_text())
    assert document["spdxVersion"].startswith("SPDX-")
    assert any("one.txt" in (f.get("fileName") or "") for f in document.get("files", [])) or document["packages"]


def test_a_signed_digest_verifies_against_its_key(images: Images) -> None:
    line = signing.verify(images.signed, images.keys.pub, use_record=False)
    assert line.startswith(f"signed by {images.keys.pub} (sha256:")


def test_an_unsigned_digest_is_refused(images: Images) -> None:
    with pytest.raises(signing.Unverified, match="no signatures found"):
        signing.verify(images.unsigned, images.keys.pub, use_record=False)


def test_another_key_is_refused(images: Images) -> None:
    with pytest.raises(signing.Unverified) as refused:
        signing.verify(images.signed, images.other.pub, use_record=False)
    assert images.signed in str(refused.value)
    assert "signature" in str(refused.value)


def test_the_same_bytes_under_another_repository_are_not_signed_there(images: Images) -> None:
    """A re-tag: the signed image's bytes copied to another repository (same digest). Verified once where it was
    signed, it is still refused where it was not, the record of earlier verifications included."""
    signing.verify(images.signed, images.keys.pub)  # recorded as verified (repository@digest)
    digest = images.signed.partition("@")[2]
    copy = f"{images.registry.address}/elsewhere/one@{digest}"
    crane = str(toolchain.binary("crane"))
    subprocess.run([crane, "copy", "--insecure", images.signed, copy], check=True, capture_output=True)
    with pytest.raises(signing.Unverified, match="no signatures found"):
        signing.verify(copy, images.keys.pub)


def _values(**refs: str) -> dict[str, Any]:
    """Chart values whose images are these repository@digest references."""
    out: dict[str, Any] = {}
    for name, ref in refs.items():
        repository, _, digest = ref.partition("@")
        out[name] = {"image": {"repository": repository, "digest": digest}}
    return out


def test_promote_asks_cosign_for_each_of_our_images_at_once_and_names_the_one_refused(images: Images) -> None:
    """The images are verified side by side (one cosign each); the report keeps one line per image in the chart's
    order, and an unsigned one among them is refused by name, as when they were asked one after the other."""
    upstream = "docker.io/ollama/ollama@sha256:" + "a" * 64
    policy = SigningPolicy(("app", "apiGate"), images.keys.pub, True)
    # no assertion on "verified before": the record is shared, and P6's smoke run on the other worker clears it
    lines = check_provenance(_values(app=images.signed, ollama=upstream, apiGate=images.signed), policy)
    assert list(lines) == ["app", "ollama", "apiGate"]
    assert lines["app"].startswith(f"signed by {images.keys.pub} (sha256:")
    assert lines["apiGate"].startswith(f"signed by {images.keys.pub} (sha256:")
    assert lines["ollama"] == "upstream image, trusted by its pinned digest sha256:aaaaaaaaaaaa… (not signed by us)"
    with pytest.raises(ParityFailed) as refused:
        check_provenance(_values(app=images.signed, ollama=upstream, apiGate=images.unsigned), policy)
    assert str(refused.value).startswith(f"image apiGate is refused, nothing was changed: {images.unsigned}: ")
    assert "no signatures found" in str(refused.value)


def test_an_attestation_alone_is_no_signature(images: Images) -> None:
    """cosign's bundle format calls this "verified"; our check wants a signature of the digest itself."""
    with pytest.raises(signing.Unverified, match="no signature of the digest"):
        signing.verify(images.attested_only, images.keys.pub, use_record=False)


def test_the_sbom_is_attached_to_the_image_as_a_signed_attestation(images: Images) -> None:
    args = ["verify-attestation", "--type", "spdxjson", "--key", images.keys.pub, *signing.VERIFY_OFFLINE]
    proc = subprocess.run(
        [str(toolchain.binary("cosign")), *args, images.signed],
        capture_output=True,
        text=True,
        env=signing.offline_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (envelope,) = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://spdx.dev/Document"
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [images.signed.rpartition("@sha256:")[2]]
    assert statement["predicate"]["name"] == json.loads(images.sbom.read_text())["name"]


TRACED = """
import sys
from pathlib import Path
from scripts import signing
fresh, key, pub, layout, out = sys.argv[1:6]
signing.sbom(Path(layout), Path(out))
signing.sign(fresh, key)
signing.attest_sbom(fresh, Path(out), key)
print(signing.verify(fresh, pub, use_record=False))
"""


def test_cosign_and_syft_connect_to_this_machine_only(images: Images, tmp_path: Path) -> None:
    """strace follows the child processes (cosign, syft) and logs every connect(): loopback and local sockets
    only, and a registry connection was seen (the trace did catch them)."""
    layout = tmp_path / "layout"
    crane = str(toolchain.binary("crane"))
    fresh = _push(images.registry, "four", b"four" * 100, tmp_path)
    subprocess.run(
        [crane, "pull", "--insecure", "--format", "oci", fresh, str(layout)], check=True, capture_output=True
    )
    trace = tmp_path / "connect.trace"
    cmd = [str(toolchain.binary("strace")), "-f", "-e", "trace=connect", "-o", str(trace), sys.executable, "-c"]
    args = [TRACED, fresh, images.keys.key, images.keys.pub, str(layout), str(tmp_path / "f.json")]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("signed by")
    connects = [line for line in trace.read_text().splitlines() if "connect(" in line]
    inet = [c for c in connects if "AF_INET" in c]
    port = images.registry.address.rsplit(":", 1)[1]
    assert any(f"sin_port=htons({port})" in c for c in inet), connects[:20]
    outside = [c for c in inet if not re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"', c)]
    assert outside == [], outside[:10]
