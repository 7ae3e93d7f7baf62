"""The promotion's report: filled in step by step, printed as a table and written as JSON (--report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.table import Table

from scripts.console import console


@dataclass
class Report:
    """What the promotion did, as far as it got."""

    target: str
    context: str | None
    namespace: str
    release: str
    outcome: str = "started"
    exit_code: int = 0
    revision: int | None = None
    previous_revision: int | None = None
    changed: bool = False
    dry_run: bool = False
    chart: str = ""
    app_image: str = ""
    ollama_image: str = ""
    gate_image: str = ""
    images: dict[str, str] = field(default_factory=dict)
    """How each deployed image was verified: signed by our key, or trusted by its pinned digest (upstream)."""
    """Ollama's API gate (nginx), "" when apiGate is off."""
    models: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, str]] = field(default_factory=list)
    placement: list[dict[str, Any]] = field(default_factory=list)
    verify: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    error: str = ""
    diff: str = ""
    watch: dict[str, Any] = field(default_factory=dict)
    rehearsal: dict[str, Any] = field(default_factory=dict)
    """`--rehearse-prod`: production's values on the GPU-shaped KIND node, and what only a GPU cluster shows."""


def print_report(report: Report) -> None:
    """The report as a table, then what to watch."""
    table = Table(title=f"promote → {report.target} ({report.context}): {report.outcome}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    revision = f"{report.release} in {report.namespace}, revision {report.revision}"
    table.add_row("release", f"{revision} (before: {report.previous_revision})")
    table.add_row("chart", f"stacks/chart, files sha256 {report.chart}")
    table.add_row("app image", report.app_image)
    table.add_row("ollama image", report.ollama_image)
    if report.gate_image:
        table.add_row("api gate image", report.gate_image)
    for name, how in report.images.items():
        table.add_row(f"image {name}", how)
    for m in report.models:
        which = " (the lock's mirror_digest)" if m.get("matched") == "mirror_digest" else ""
        table.add_row("model", f"{m['model']} {m['digest'][:19]}…{which} {m['size'] / 1e6:.0f} MB")
    for p in report.placement:
        table.add_row("GPU pod", f"{p['pod']} on {p['node']} ({p['gpus']}, {'ready' if p['ready'] else 'NOT ready'})")
    for name, text in report.verify.items():
        table.add_row(f"verify {name}", text)
    if report.rehearsal:
        table.add_row("rehearsal", f"{report.rehearsal['values']} on {report.rehearsal['gpu_node']}, pods on CPU")
        for item in report.rehearsal["cannot_show"]:
            table.add_row("only a GPU cluster shows", item)
    table.add_row("timings", ", ".join(f"{k} {v:.1f} s" for k, v in report.timings_s.items()))
    console.print(table)
    print_watch(report)


def print_watch(report: Report) -> None:
    """The watch section, one unwrapped line each so the command and the queries can be copied."""
    w = report.watch
    if not w:
        return
    if "metrics_url" not in w:
        console.print(f"watch: metrics {escape(str(w.get('metrics', '')))}", soft_wrap=True)
        return
    context = f" --context {report.context}" if report.context else ""
    lines = [
        f"metrics: kubectl{context} get --raw {w['metrics_url']}",
        f"scraped by: {w['scrape']}",
        *(f"{name}: {query}" for name, query in w["queries"].items()),
        f"alerts: {', '.join(w['alerts'])} ({w['alert_rules']})",
    ]
    console.print("[bold]watch[/bold]", soft_wrap=True)
    for line in lines:
        console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)
