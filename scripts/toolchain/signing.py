"""The tools that make our images traceable: syft (an SBOM of each image) and cosign (signatures and the SBOM as a
signed attestation), both from their Go modules; and strace, which the tests use to show neither calls out."""

from __future__ import annotations

from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.debian import debian_tool
from scripts.toolchain.pins import COSIGN_VERSION, SYFT_VERSION
from scripts.toolchain.runner import capture, first_match, go_install


def _install_cosign(home: Path, log: Path) -> None:
    """cosign's version is a release-utils `-X`; without it `cosign version` says "devel"."""
    ldflags = f"-s -w -X sigs.k8s.io/release-utils/version.gitVersion=v{COSIGN_VERSION}"
    go_install(home, log, ldflags, f"github.com/sigstore/cosign/v3/cmd/cosign@v{COSIGN_VERSION}", trimpath=True)


def _probe_cosign(home: Path) -> str:
    return first_match(r"GitVersion:\s+v(\d+\.\d+\.\d+)", capture([str(home / "bin" / "cosign"), "version"]))


def _install_syft(home: Path, log: Path) -> None:
    """syft's version is `main.version`; without it `syft version` says "[not provided]"."""
    ldflags = f"-s -w -X main.version={SYFT_VERSION}"
    go_install(home, log, ldflags, f"github.com/anchore/syft/cmd/syft@v{SYFT_VERSION}", trimpath=True)


def _probe_syft(home: Path) -> str:
    out = capture([str(home / "bin" / "syft"), "version"], env={"SYFT_CHECK_FOR_APP_UPDATE": "false"})
    return first_match(r"Version:\s+(\d+\.\d+\.\d+)", out)


COSIGN = Tool("cosign", COSIGN_VERSION, 6, _install_cosign, _probe_cosign)
SYFT = Tool("syft", SYFT_VERSION, 5, _install_syft, _probe_syft)
STRACE = debian_tool("strace", "strace", "-V")
