"""P5: what the portable CPU baseline costs: tok/s of the pinned Ollama build vs one built for this very CPU.

The toolchain builds `llama-server` for one explicit instruction set per architecture (scripts/toolchain/ollama.py,
`CPU_BASELINES`), never `-march=native`. The yardstick is the same Ollama with ggml switched on for everything
this CPU reports in /proc/cpuinfo (AMX still off: it crashes in current ggml). Both servers share the models
folder and answer the same generation, in pairs whose order alternates; tok/s is the server's own eval rate,
the one figure the instruction set changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.gateway import ChatMessage, OllamaGateway
from bench.report import MIN_RUNS, BenchResult, Spread, alternating_pairs
from scripts import toolchain
from scripts.demo import offline_models, ollama_server
from scripts.processes import free_port

RUNS = 11
PROMPT = "List five colours of the rainbow, one per line."
OPTIONS = {"seed": 5, "temperature": 0, "num_predict": 64}
TARGET = 0.85
"""The baseline keeps at least 85 % of the native build's tok/s, or the baseline should be raised."""


def _tokens_per_s(gateway: OllamaGateway, model: str) -> float:
    stream = gateway.chat_stream(model, [ChatMessage("user", PROMPT)], options=OPTIONS, keep_alive="10m")
    stream.text()
    assert stream.stats is not None and stream.stats.tokens_per_s > 0
    return stream.stats.tokens_per_s


def _native_build(same_flags: bool, build_native: bool) -> Path:
    """The yardstick's binary: a build for this CPU, or, where it would be the very same build, the baseline's."""
    if same_flags or not build_native:
        return toolchain.binary("ollama")
    return toolchain.ensure(toolchain.native_ollama()) / "bin" / "ollama"


def paired_tokens_per_s(first: Path, second: Path, runs: int) -> tuple[list[float], list[float]]:
    """Two Ollama binaries, each its own server with its own models folder and the offline model, answering the
    same generation in ``runs`` pairs of alternating order: the eval tok/s of each."""
    model = offline_models.OFFLINE_MODEL
    with tempfile.TemporaryDirectory() as first_state, tempfile.TemporaryDirectory() as second_state:
        a = OllamaGateway(ollama_server.start(Path(first_state), port=free_port(), tie_to_parent=True, binary=first))
        b = OllamaGateway(ollama_server.start(Path(second_state), port=free_port(), tie_to_parent=True, binary=second))
        try:
            for gateway in (a, b):
                if model not in {m.name for m in gateway.list_models()}:
                    for _ in offline_models.create_offline_model(gateway):
                        pass
            _tokens_per_s(a, model), _tokens_per_s(b, model)  # load the model into both
            return alternating_pairs(lambda: _tokens_per_s(a, model), lambda: _tokens_per_s(b, model), runs)
        finally:
            a.close()
            b.close()
            ollama_server.stop(Path(first_state))
            ollama_server.stop(Path(second_state))


def run(runs: int = RUNS, *, build_native: bool = True) -> BenchResult:
    """``build_native=False`` (the smoke run) measures the baseline against itself: the code path, not the CPU."""
    baseline_cpu = toolchain.cpu_baseline()
    native_cpu = toolchain.native_cpu_flags(Path("/proc/cpuinfo").read_text(), os.uname().machine)
    same = set(native_cpu.ggml) == set(baseline_cpu.ggml)
    extra = sorted(set(native_cpu.ggml) - set(baseline_cpu.ggml))
    model = offline_models.OFFLINE_MODEL
    ours, raws = paired_tokens_per_s(toolchain.binary("ollama"), _native_build(same, build_native), runs)
    ratio = Spread.of([o / r for o, r in zip(ours, raws, strict=True)])
    yardstick = "the baseline itself (this CPU offers nothing more)" if same else f"a build with {', '.join(extra)}"
    if not build_native and not same:
        yardstick = "the baseline itself (smoke run: no native build)"
    return BenchResult(
        id="P5",
        title="portable CPU baseline vs a build for this CPU (tok/s)",
        target=f"baseline tok/s >= {TARGET} x native",
        met=ratio.median >= TARGET and runs >= MIN_RUNS,
        figures={
            "runs": runs,
            "baseline": baseline_cpu.name,
            "baseline tok/s": Spread.of(ours).median,
            "native tok/s": Spread.of(raws).median,
            "baseline / native": ratio.median,
            "extra native flags": ", ".join(extra) or "none",
        },
        summary=(
            f"{baseline_cpu.name} keeps {ratio.text(digits=3)} of the tok/s of {yardstick}; "
            f"{Spread.of(ours).text('tok/s')} vs {Spread.of(raws).text('tok/s')}"
        ),
        notes=(
            f"{model} on {os.cpu_count()} cores, {OPTIONS['num_predict']} tokens, {runs} pairs in alternating order; "
            f"baseline {baseline_cpu.name}: {baseline_cpu.why}. The native build differs from it by: "
            f"{', '.join(extra) or 'nothing — on this CPU the two builds are the same build'}."
        ),
    )
