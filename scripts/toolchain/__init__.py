"""Install every tool snap2prod needs, pinned, into a cache outside the repository.

pins.py is the one file that pins versions. The package uses only the standard library (and scripts.paths and
scripts.errors, which import nothing else) so it can run before the project's virtualenv exists. Each tool lands in
``$SNAP2PROD_CACHE/tools/<name>-<version>/`` and is marked complete only after it built and reported its version,
so a second run is instant and a failed build is retried. Run ``python3 -m scripts.toolchain [--only a,b] [--check]``.

Its modules, lowest first: ``pins`` (every pinned version and artifact), ``runner`` (the one command runner
``run``, ``capture``, the progress ``Ticker``, the Go environment), ``cache`` (``Tool``, its cache folder, the
locked install), ``debian`` (Debian packages), the recipes ``ollama`` (Ollama, llama-server, SmolLM2), ``kube``
(Kubernetes, kubectl, etcd, kwok, Helm, the node binaries), ``containers`` (podman, kind, the node image's parts,
the registries) and ``scanners`` (kube-score, checkov), ``tools`` (``TOOLS``, ``PROFILES``, ``ensure``, ``binary``)
and ``command`` (the command line). This module re-exports what the rest of snap2prod uses.
"""

from __future__ import annotations

from scripts.toolchain.cache import Tool, cache_dir, expected_version, tool_dir
from scripts.toolchain.command import main
from scripts.toolchain.containers import ENGINE_PACKAGES
from scripts.toolchain.kube import KUBE_COMMANDS, KUBE_NODE_COMMANDS
from scripts.toolchain.ollama import (
    CPU_BASELINES,
    LLAMA_SERVER_BUILD_PACKAGES,
    LLAMA_SERVER_TARGETS,
    CpuBaseline,
    Step,
    build_llama_server,
    cpu_baseline,
    llama_server_steps,
    native_cpu_flags,
    native_ollama,
    ollama_server_step,
    ollama_variant,
)
from scripts.toolchain.pins import (
    CHECKOV_VERSION,
    COREDNS_VERSION,
    CRANE_VERSION,
    CRICTL_VERSION,
    DEBIAN_RELEASE,
    DISTRIBUTION_VERSION,
    ETCD_VERSION,
    HELM_VERSION,
    KIND_VERSION,
    KUBE_ROUTER_VERSION,
    KUBE_SCORE_VERSION,
    KUBERNETES_GO_DIRECTIVE,
    KUBERNETES_VERSION,
    KWOK_VERSION,
    LLAMA_CPP_SDIST,
    LLAMA_CPP_SDIST_BUILD_DEPS,
    LLAMA_CPP_SDIST_SHA256,
    LOCAL_PATH_PROVISIONER_VERSION,
    OLLAMA_VERSION,
    SMOLLM2_GGUF,
    SMOLLM2_PACKAGE_VERSION,
)
from scripts.toolchain.runner import (
    Ticker,
    ToolchainError,
    capture,
    first_match,
    go_base,
    go_env,
    go_install,
    log_tail,
    module_dir,
    note_build,
    run,
)
from scripts.toolchain.tools import PROFILES, TOOLS, binary, check, ensure

__all__ = [
    "CHECKOV_VERSION",
    "COREDNS_VERSION",
    "CPU_BASELINES",
    "CRANE_VERSION",
    "CRICTL_VERSION",
    "DEBIAN_RELEASE",
    "DISTRIBUTION_VERSION",
    "ENGINE_PACKAGES",
    "ETCD_VERSION",
    "HELM_VERSION",
    "KIND_VERSION",
    "KUBERNETES_GO_DIRECTIVE",
    "KUBERNETES_VERSION",
    "KUBE_COMMANDS",
    "KUBE_NODE_COMMANDS",
    "KUBE_ROUTER_VERSION",
    "KUBE_SCORE_VERSION",
    "KWOK_VERSION",
    "LLAMA_CPP_SDIST",
    "LLAMA_CPP_SDIST_BUILD_DEPS",
    "LLAMA_CPP_SDIST_SHA256",
    "LLAMA_SERVER_BUILD_PACKAGES",
    "LLAMA_SERVER_TARGETS",
    "LOCAL_PATH_PROVISIONER_VERSION",
    "OLLAMA_VERSION",
    "PROFILES",
    "SMOLLM2_GGUF",
    "SMOLLM2_PACKAGE_VERSION",
    "TOOLS",
    "CpuBaseline",
    "Step",
    "Ticker",
    "Tool",
    "ToolchainError",
    "binary",
    "build_llama_server",
    "cache_dir",
    "capture",
    "check",
    "cpu_baseline",
    "ensure",
    "expected_version",
    "first_match",
    "go_base",
    "go_env",
    "go_install",
    "llama_server_steps",
    "log_tail",
    "main",
    "module_dir",
    "native_cpu_flags",
    "native_ollama",
    "note_build",
    "ollama_server_step",
    "ollama_variant",
    "run",
    "tool_dir",
]
