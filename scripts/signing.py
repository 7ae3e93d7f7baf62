"""Images you can trace: an SBOM of each image we build (syft), a signature on each digest we push with the SBOM
attached as a signed attestation (cosign), and the check promote makes before it changes anything.

Fully offline, always: cosign signs with a key pair (``keygen``, or one given by path or KMS URI), never with
Fulcio, uploads nothing to a transparency log (``--tlog-upload=false``), fetches no TUF root or signing config
(``--use-signing-config=false``) and verifies against the key alone (``--insecure-ignore-tlog``: there is no log
entry to check). syft never looks for its own updates (``SYFT_CHECK_FOR_APP_UPDATE=false``), is told the image's
source exactly (``oci-dir:``) so it probes no daemon or registry, and caches under ours.
tests/integration/test_signing.py runs each command under strace and finds connections to this machine only.

cosign's bundle format accepts any bundle the key signed, an SBOM attestation included, as "verified"; a digest
counts as signed here only when a payload of the signature type names that very digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from scripts import toolchain
from scripts.errors import CliError
from scripts.paths import config_dir

SIGNATURE_TYPE = "https://sigstore.dev/cosign/sign/v1"
SIGN_OFFLINE = ("--use-signing-config=false", "--tlog-upload=false", "--yes")
VERIFY_OFFLINE = ("--insecure-ignore-tlog=true",)
TIMEOUT_S = 300
_RECORD_LOCK = threading.Lock()


class SigningError(CliError):
    """cosign or syft failed; the message is theirs (its last lines)."""


class Unverified(CliError):
    """An image is not signed by the key promote checks against: the reason, in cosign's words or ours."""


@dataclass(frozen=True)
class Keys:
    """A cosign key pair: file paths, or KMS URIs (``awskms://…``, ``gcpkms://…``, ``hashivault://…``)."""

    key: str
    pub: str


def keys_dir() -> Path:
    return config_dir() / "signing"


def default_keys() -> Keys:
    """``SNAP2PROD_SIGNING_KEY`` / ``SNAP2PROD_SIGNING_PUB`` (a path or a KMS URI), else the pair `snap2prod images
    keygen` made in snap2prod's config folder."""
    return Keys(
        os.environ.get("SNAP2PROD_SIGNING_KEY") or str(keys_dir() / "cosign.key"),
        os.environ.get("SNAP2PROD_SIGNING_PUB") or str(keys_dir() / "cosign.pub"),
    )


def _is_file(ref: str) -> bool:
    return "://" not in ref


def offline_env() -> dict[str, str]:
    """What cosign and syft run with: no update check, caches under ours, the key's password ("" unless set)."""
    cache = toolchain.cache_dir() / "signing"
    return {
        **os.environ,
        "COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", ""),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_CACHE_DIR": str(cache / "syft"),
        "TUF_ROOT": str(cache / "sigstore"),
    }


def _run(tool: str, args: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(toolchain.binary(tool)), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=offline_env(), cwd=cwd, timeout=TIMEOUT_S, check=False
    )


def _failed(tool: str, args: list[str], proc: subprocess.CompletedProcess[str]) -> str:
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    return f"{tool} {args[0]} failed (exit {proc.returncode}): {tail}"


def keygen(folder: Path | None = None) -> Keys:
    """A new cosign key pair in ``folder`` (default: snap2prod's config folder); never overwrites one."""
    folder = folder or keys_dir()
    keys = Keys(str(folder / "cosign.key"), str(folder / "cosign.pub"))
    if Path(keys.key).exists() or Path(keys.pub).exists():
        raise SigningError(f"a key pair exists already in {folder}: keep it, or move it away first")
    folder.mkdir(parents=True, exist_ok=True)
    args = ["generate-key-pair", "--output-key-prefix", str(folder / "cosign")]
    proc = _run("cosign", args, cwd=folder)
    if proc.returncode != 0:
        raise SigningError(_failed("cosign", args, proc))
    Path(keys.key).chmod(0o600)
    return keys


def ensure_keys() -> Keys:
    """The configured pair, made on first use when it is the default one and missing (a KIND user signs their own
    images without a set-up step; production gives its own by path or KMS URI)."""
    keys = default_keys()
    default = Keys(str(keys_dir() / "cosign.key"), str(keys_dir() / "cosign.pub"))
    if keys == default and not Path(keys.key).exists():
        return keygen()
    return keys


def sbom(oci_dir: Path, out: Path) -> Path:
    """An SPDX JSON SBOM of the image laid out in ``oci_dir`` (`podman save --format oci-dir`)."""
    args = [f"oci-dir:{oci_dir}", "-q", "-o", f"spdx-json={out}"]
    proc = _run("syft", args)
    if proc.returncode != 0 or not out.exists():
        raise SigningError(_failed("syft", args, proc))
    return out


def sign(ref: str, key: str) -> None:
    """Sign ``ref`` (repository@digest) with ``key``; the signature goes to the same registry."""
    args = ["sign", "--key", key, *SIGN_OFFLINE, ref]
    proc = _run("cosign", args)
    if proc.returncode != 0:
        raise SigningError(_failed("cosign", args, proc))


def attest_sbom(ref: str, sbom_file: Path, key: str) -> None:
    """Attach the SBOM to ``ref`` in its registry, as an in-toto attestation signed with ``key``."""
    args = ["attest", "--type", "spdxjson", "--predicate", str(sbom_file), "--key", key, *SIGN_OFFLINE, ref]
    proc = _run("cosign", args)
    if proc.returncode != 0:
        raise SigningError(_failed("cosign", args, proc))


def verify(ref: str, pub: str, *, use_record: bool = True) -> str:
    """``ref`` (repository@digest) carries a signature of that digest by ``pub``'s key; raises Unverified with the
    reason otherwise. Returns the line a report keeps. ``use_record``: a digest verified before with this key file
    is not asked again (push asks the registry itself: it signs what the registry lacks)."""
    digest = ref.rpartition("@")[2]
    if not digest.startswith("sha256:"):
        raise Unverified(f"{ref} is not pinned by digest")
    if _is_file(pub) and not Path(pub).exists():
        raise Unverified(f"no public key at {pub} (`snap2prod images keygen` makes a pair)")
    if use_record and _verified_before(ref, pub):
        return f"signed by {_key_name(pub)} (verified before for this digest)"
    args = ["verify", "--key", pub, *VERIFY_OFFLINE, "--output", "json", ref]
    proc = _run("cosign", args)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("Error:")] or proc.stderr.splitlines()
        raise Unverified(f"{ref}: {(lines[-1] if lines else 'cosign verify failed').removeprefix('Error: ')}")
    if not _signature_of(proc.stdout, digest):
        raise Unverified(f"{ref}: the key signed something for it (an attestation) but no signature of the digest")
    _remember(ref, pub)
    return f"signed by {_key_name(pub)}"


def _signature_of(output: str, digest: str) -> bool:
    """cosign verify's JSON payloads hold one of the signature type for ``digest``."""
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("["):
            continue
        for payload in json.loads(line):
            critical = payload.get("critical", {})
            if critical.get("type") == SIGNATURE_TYPE and critical.get("image", {}).get("docker-manifest-digest") == (
                digest
            ):
                return True
    return False


def key_id(pub: str) -> str:
    """A public key file's fingerprint ("" for a KMS key: it is asked every time)."""
    return _fingerprint(pub) or ""


def _key_name(pub: str) -> str:
    if not _is_file(pub):
        return pub
    return f"{pub} (sha256:{hashlib.sha256(Path(pub).read_bytes()).hexdigest()[:12]})"


def _record() -> Path:
    return toolchain.cache_dir() / "signing" / "verified.json"


def forget_verified() -> None:
    """Forget every digest verified before, so the next verification asks the registry (benchmark P6's cold runs)."""
    with _RECORD_LOCK:
        _record().unlink(missing_ok=True)


def _fingerprint(pub: str) -> str | None:
    return hashlib.sha256(Path(pub).read_bytes()).hexdigest() if _is_file(pub) else None


def _verified_before(ref: str, pub: str) -> bool:
    """A digest is content: once its signature by this key was verified in this repository, the same bytes stay
    ours there (a no-op promotion does not ask cosign again). Keyed by repository@digest, never the digest alone:
    the same bytes pushed under another repository (a re-tag) carry no signature there and are asked again. KMS
    keys are asked every time."""
    fingerprint = _fingerprint(pub)
    if fingerprint is None:
        return False
    try:
        known = json.loads(_record().read_text())
    except (FileNotFoundError, ValueError):
        return False
    return bool(known.get(ref) == fingerprint)


def _remember(ref: str, pub: str) -> None:
    fingerprint = _fingerprint(pub)
    if fingerprint is None:
        return
    with _RECORD_LOCK:  # promote verifies its images at once: one read-modify-write of the record at a time
        _write_record(ref, fingerprint)


def _write_record(ref: str, fingerprint: str) -> None:
    path = _record()
    try:
        known = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        known = {}
    known[ref] = fingerprint
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers never share a file
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    tmp.replace(path)
