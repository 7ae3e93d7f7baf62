"""`snap2prod promote --to {kind,prod,sim}`: the identical stack onto a cluster, checked before and after.

Steps: target → values (one merged dict) → parity (lock vs the local Ollama, images by digest) → preflight (the
cluster can run it; nothing changes before this passes) → rollout (Helm install-or-upgrade, rollback on failure,
wait) → verify (the cluster's models against the lock, the chart's helm test) → report (a table and JSON).
Exit codes by class of failure: scripts/promote_errors.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from app.errors import Snap2ProdError
from app.gateway import OllamaGateway
from app.lock import DEFAULT_LOCK, Lock, compare, describe, read_lock, write_lock
from app.settings import normalize_host
from scripts import models_cli, preflight, rollout, verify
from scripts.progress import console
from scripts.promote_errors import (
    ParityFailed,
    PreflightFailed,
    PromoteError,
    RolloutFailed,
    TargetRefused,
    VerifyFailed,
)

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
TARGETS = ("kind", "prod", "sim")
VALUES = {"kind": ("local/values.yaml",), "sim": ("sim/values.yaml",), "prod": ("prod/values.yaml",)}
LOCAL_CONTEXTS = ("kind-", "snap2prod-sim", "docker-desktop", "minikube", "rancher-desktop", "orbstack")
KIND_CLUSTER = "snap2prod"
DIGEST_PREFIX = "sha256:"


@dataclass
class Target:
    name: str
    kubeconfig: Path | None
    context: str | None
    simulated: bool = False


@dataclass
class Report:
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
    models: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, str]] = field(default_factory=list)
    placement: list[dict[str, Any]] = field(default_factory=list)
    verify: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    error: str = ""
    diff: str = ""
    watch: dict[str, Any] = field(default_factory=dict)


# --- what to watch afterwards -------------------------------------------------------------------------------

ALERTS_FILE = STACKS / "chart" / "files" / "alerts.yaml"
WATCH_QUERIES = {
    "error rate": 'sum by (model) (rate(snap2prod_chat_requests_total{outcome!~"ok|cancelled"}[5m])) / '
    "sum by (model) (rate(snap2prod_chat_requests_total[5m]))",
    "p95 latency": "histogram_quantile(0.95, sum by (model, le) (rate(snap2prod_chat_duration_seconds_bucket[5m])))",
    "ollama up": "snap2prod_ollama_up",
}
"""The PromQL behind the alerts (stacks/observability/alerts.yaml), without their thresholds."""


def watch(docs: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    """Where the promoted app's metrics are, how Prometheus finds them, the key queries and the alert names."""

    def component(d: dict[str, Any]) -> str:
        return str(d["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))

    services = [d for d in docs if d["kind"] == "Service" and component(d) == "app"]
    if not any(p.get("name") == "metrics" for s in services for p in s["spec"].get("ports", [])):
        return {"metrics": "off (app.settings.metricsPort is 0)"}
    service = services[0]["metadata"]["name"]
    monitors = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceMonitor"]
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    pods = [d["spec"]["template"]["metadata"] for d in docs if d["kind"] == "Deployment" and component(d) == "app"]
    annotated = any(m.get("annotations", {}).get("prometheus.io/scrape") == "true" for m in pods)
    if monitors:
        scrape = f"ServiceMonitor {monitors[0]}"
    elif annotated:
        scrape = "prometheus.io/* annotations on the app pods"
    else:
        scrape = "nothing tells Prometheus (metrics.serviceMonitor.enabled or metrics.scrapeAnnotations)"
    spec = rules[0]["spec"] if rules else yaml.safe_load(ALERTS_FILE.read_text())["spec"]
    return {
        "metrics_url": f"/api/v1/namespaces/{namespace}/services/{service}:metrics/proxy/metrics",
        "scrape": scrape,
        "queries": dict(WATCH_QUERIES),
        "alerts": [r["alert"] for g in spec["groups"] for r in g.get("rules", []) if "alert" in r],
        "alert_rules": f"PrometheusRule {rules[0]['metadata']['name']}"
        if rules
        else "not installed (metrics.prometheusRule.enabled, or load stacks/observability/alerts.yaml)",
    }


# --- target ------------------------------------------------------------------------------------------------


def looks_local(context: str) -> bool:
    return context.startswith(LOCAL_CONTEXTS)


def resolve_target(to: str, context: str | None, kubeconfig: Path | None, yes: bool) -> Target:
    if to == "sim":
        if kubeconfig is None:
            from scripts.sim import Sim

            kubeconfig = Sim().kubeconfig
        if not kubeconfig.exists():
            raise TargetRefused(f"no rehearsal cluster: {kubeconfig} does not exist. Start one: `snap2prod sim up`.")
        from scripts.sim import CONTEXT

        return Target("sim", kubeconfig, context or CONTEXT, simulated=True)
    if to == "prod":
        if not context:
            raise TargetRefused("--to prod needs an explicit --kube-context (the production cluster's context).")
        if looks_local(context):
            raise TargetRefused(f"--kube-context {context!r} looks like a local cluster, not production; use "
                                "--to kind or --to sim for it.")  # fmt: skip
        if not yes:
            if not sys.stdin.isatty():
                raise TargetRefused(f"promoting to production context {context!r} needs confirmation: add --yes.")
            if not typer.confirm(f"Promote to the production cluster of context {context!r}?", err=True):
                raise TargetRefused("not confirmed; nothing was changed.")
        return Target("prod", kubeconfig, context)
    return kind_target(context, kubeconfig)


def kind_target(context: str | None, kubeconfig: Path | None) -> Target:
    """Create or reuse the KIND cluster of stacks/local/kind.yaml; needs kind and a container engine."""
    engines = [e for e in ("docker", "podman", "nerdctl") if shutil.which(e)]
    missing = ([] if shutil.which("kind") else ["kind (https://kind.sigs.k8s.io)"]) + (
        [] if engines else ["a container engine (docker, podman or nerdctl)"]
    )
    if missing:
        raise TargetRefused(f"--to kind needs {' and '.join(missing)} on this machine; none found on PATH. "
                            "Without them, rehearse with `snap2prod sim up` and `--to sim`.")  # fmt: skip
    env = {**os.environ, **({"KIND_EXPERIMENTAL_PROVIDER": engines[0]} if engines[0] != "docker" else {})}
    listed = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, env=env, check=False)
    if KIND_CLUSTER not in listed.stdout.split():
        with step(f"kind: create cluster {KIND_CLUSTER} ({STACKS / 'local' / 'kind.yaml'})", {}):
            created = subprocess.run(["kind", "create", "cluster", "--config", str(STACKS / "local" / "kind.yaml")],
                                     capture_output=True, text=True, env=env, check=False)  # fmt: skip
        if created.returncode != 0:
            raise TargetRefused(f"kind create cluster failed: {created.stderr.strip()}")
    return Target("kind", kubeconfig, context or f"kind-{KIND_CLUSTER}")


def api_client(target: Target) -> Any:
    from kubernetes import config

    try:
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(target.kubeconfig) if target.kubeconfig else None, context=target.context
        )
    except Exception as err:  # no kubeconfig, an unknown context
        raise TargetRefused(f"cannot use context {target.context!r}: {err}") from None


# --- values and parity -------------------------------------------------------------------------------------


def load_values(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PromoteError(f"cannot read values file {path}: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise PromoteError(f"{path} is not a values file (a mapping)")
    return data or {}


def merged_values(to: str, extra: list[Path], lock: Lock, lock_path: Path) -> dict[str, Any]:
    """The environment's values file(s), then each --values file, then the lock as ``models.lock``."""
    layers = [load_values(STACKS / f) for f in VALUES[to]] + [load_values(p) for p in extra]
    lock_data = yaml.safe_load(lock_path.read_text())
    return rollout.merge(*layers, {"models": {"lock": lock_data}})


def effective(values: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's defaults under ``values``: what the release will really use."""
    return rollout.merge(load_values(rollout.CHART / "values.yaml"), values)


def check_parity(lock: Lock, values: Mapping[str, Any], host: str | None, from_lock: bool) -> str:
    """Images pinned by digest, and (unless ``from_lock``) the local Ollama serves the locked digests."""
    for part in ("app", "ollama"):
        digest = str(values.get(part, {}).get("image", {}).get("digest", ""))
        if not (digest.startswith(DIGEST_PREFIX) and len(digest) == 71):
            raise ParityFailed(f"{part}.image.digest is {digest!r}, not a sha256 digest: the {part} image must be "
                               "pinned by digest so every cluster runs the same bytes.")  # fmt: skip
    if from_lock:
        return "skipped (--from-lock): the lock is taken as it is"
    address = normalize_host(host or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434")
    gateway = OllamaGateway(address)
    try:
        drift = compare(lock, gateway.list_models())
    finally:
        gateway.close()
    if not drift.clean:
        raise ParityFailed(describe(drift, address) + "\nRe-lock on purpose (`snap2prod models lock`), pull the "
                           "locked models, or promote with --from-lock to skip the local check.")  # fmt: skip
    return f"local Ollama {address} serves the {len(lock.models)} locked model(s)"


# --- progress ----------------------------------------------------------------------------------------------


@contextmanager
def step(label: str, timings: dict[str, float]) -> Iterator[Any]:
    start = time.monotonic()
    try:
        with console.status(label) as status:
            yield status
    finally:
        timings[label.split(":")[0]] = rollout.elapsed(start)
    console.print(f"[green]✓[/green] {escape(label)} [dim]{time.monotonic() - start:.1f} s[/dim]", soft_wrap=True)


# --- the promotion -----------------------------------------------------------------------------------------


@dataclass
class Options:
    to: str
    kube_context: str | None = None
    kubeconfig: Path | None = None
    values: list[Path] = field(default_factory=list)
    dry_run: bool = False
    yes: bool = False
    timeout_s: float = 600
    report: Path | None = None
    from_lock: bool = False
    host: str | None = None
    lock: Path = DEFAULT_LOCK
    namespace: str = "snap2prod"
    release: str = "snap2prod"
    registry: str | None = None
    insecure: bool = False


def promote(opts: Options) -> Report:
    """Run the promotion; the report is filled in as far as it got. Raises PromoteError subclasses."""
    report = Report(opts.to, opts.kube_context, opts.namespace, opts.release, dry_run=opts.dry_run)
    try:
        _promote(opts, report)
    except PromoteError as err:
        report.outcome, report.exit_code, report.error = type(err).__name__, err.exit_code, str(err)
        err.report = report
        raise
    finally:
        if opts.report:
            opts.report.parent.mkdir(parents=True, exist_ok=True)
            opts.report.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    return report


def _promote(opts: Options, report: Report) -> None:
    t = report.timings_s
    start = time.monotonic()
    target = resolve_target(opts.to, opts.kube_context, opts.kubeconfig, opts.yes)
    report.context = target.context
    lock = read_lock(opts.lock)
    values = merged_values(opts.to, opts.values, lock, opts.lock)
    full = effective(values)
    report.models = [{"model": m.ref, "digest": m.digest, "size": m.size} for m in lock.models]
    report.app_image = f"{full['app']['image']['repository']}@{full['app']['image']['digest']}"
    report.ollama_image = (
        f"{full['ollama']['image']['repository']}:{full['ollama']['image']['tag']}@{full['ollama']['image']['digest']}"
    )
    report.chart = rollout.chart_fingerprint()
    helm = rollout.Helm(target.kubeconfig, target.context)

    with step("parity: lock and images", t):
        parity = check_parity(lock, full, opts.host, opts.from_lock)
    console.print(f"  {escape(parity)}", soft_wrap=True)
    report.verify["parity"] = parity
    if opts.registry:
        lock, values = mirror(lock, values, opts, t)
        full = effective(values)
        report.verify["mirror"] = f"{len(lock.models)} model(s) in {opts.registry}; the cluster pulls from there"
    with step("render: chart with the merged values", t):
        docs = rollout.render(helm, values, opts.release, opts.namespace)
    report.watch = watch(docs, opts.namespace)
    api = api_client(target)
    try:
        with step(f"preflight: {target.context}", t):
            try:
                checks, _ = preflight.run(
                    api, namespace=opts.namespace, release=opts.release, docs=docs, values=full, lock=lock,
                    production=opts.to == "prod", ingress_strict=opts.to != "sim",
                )  # fmt: skip
            except PreflightFailed as err:
                report.checks = [asdict(c) for c in getattr(err, "checks", [])]
                raise
        report.checks = [asdict(c) for c in checks]
        for c in checks:
            mark = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}[c.status]
            console.print(f"  {mark} {escape(c.name)}: {escape(c.detail)}", soft_wrap=True)
        live = rollout.current(helm, opts.release, opts.namespace)
        report.previous_revision = live.number if live else None
        if opts.dry_run:
            _dry_run(api, docs, live, opts, report)
        elif rollout.unchanged(live, values, report.chart):
            assert live is not None
            report.revision, report.outcome = live.number, "unchanged"
            console.print(f"  release {opts.release} revision {live.number} already runs this chart and these values: "
                          "nothing to change")  # fmt: skip
            _verify(api, helm, target, lock, docs, opts, report)
        else:
            _rollout(api, helm, target, lock, docs, values, live, opts, report)
        t["total"] = rollout.elapsed(start)
    finally:
        api.close()


def mirror(lock: Lock, values: dict[str, Any], opts: Options, timings: dict[str, float]) -> tuple[Lock, dict[str, Any]]:
    """Push the locked models into the private registry (not in a dry run) and point the chart at it.

    The lock records the mirror and each model's mirror digest, as `snap2prod models mirror` does, and goes to
    the cluster with them, so the cluster's provisioning checks the digests the registry really serves.
    """
    assert opts.registry is not None
    if opts.dry_run:
        console.print(f"  dry run: would mirror {len(lock.models)} model(s) into {escape(opts.registry)}")
    else:
        gateway = OllamaGateway(normalize_host(opts.host or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434"))
        try:
            with step(f"mirror: locked models into {opts.registry}", timings):
                lock = models_cli.mirror_models(gateway, lock, opts.registry, insecure=opts.insecure, show=False)
        except Snap2ProdError as err:
            raise ParityFailed(f"mirroring into {opts.registry} failed: {err}") from None
        finally:
            gateway.close()
        write_lock(lock, opts.lock)
    lock_data = yaml.safe_load(opts.lock.read_text()) if not opts.dry_run else values["models"]["lock"]
    mirrored = {"models": {"registry": opts.registry.strip("/"), "insecure": opts.insecure, "lock": lock_data}}
    return lock, rollout.merge(values, mirrored)


def _dry_run(
    api: Any, docs: list[dict[str, Any]], live: rollout.Revision | None, opts: Options, report: Report
) -> None:
    with step("dry run: server-side validation (dryRun=All, strict fields)", report.timings_s):
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            client.CoreV1Api(api).read_namespace(opts.namespace)
            problems = rollout.validate_on_server(api, docs, opts.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            problems = []
            console.print(f"  namespace {opts.namespace} does not exist: namespaced objects are validated when it "
                          "does (the chart's schema was checked)")  # fmt: skip
    if problems:
        raise PreflightFailed("the API server refuses:\n" + "\n".join(f"  ✗ {p}" for p in problems))
    report.diff = rollout.diff(live.manifest if live else "", docs)
    report.outcome = "dry-run"
    report.revision = live.number if live else None
    what = f"against revision {live.number}" if live else "(no release yet: everything is new)"
    console.print(f"diff {what}:" if report.diff else f"no difference {what}", soft_wrap=True)
    if report.diff:
        console.print(escape(report.diff), highlight=False, soft_wrap=True)


def _rollout(
    api: Any,
    helm: rollout.Helm,
    target: Target,
    lock: Lock,
    docs: list[dict[str, Any]],
    values: dict[str, Any],
    live: rollout.Revision | None,
    opts: Options,
    report: Report,
) -> None:
    label = f"rollout: helm upgrade --install {opts.release} -n {opts.namespace} (timeout {opts.timeout_s:g} s)"
    try:
        with step(label, report.timings_s) as status:
            report.revision = rollout.install(helm, api, release=opts.release, namespace=opts.namespace, values=values,
                                              fingerprint=report.chart, timeout_s=opts.timeout_s,
                                              on_progress=lambda s: status.update(f"{label} — {s}"))  # fmt: skip
    except PromoteError as err:
        now = rollout.current(helm, opts.release, opts.namespace)
        if live is None:
            if now is not None:
                rollout.uninstall(helm, opts.release, opts.namespace)
            after = "it was a first install, so the release was removed"
        elif now is not None and now.status == "deployed" and now.number != live.number:
            after = f"Helm rolled back to revision {live.number} (now revision {now.number})"
        else:
            rollout.rollback(helm, opts.release, opts.namespace, live.number, opts.timeout_s)
            after = f"rolled back to revision {live.number}"
        settled = rollout.current(helm, opts.release, opts.namespace)
        report.revision = settled.number if settled else None
        report.placement = [asdict(p) for p in rollout.placement(api, opts.namespace, opts.release)]
        raise RolloutFailed(f"rollout failed: {err}\n{after}.") from None
    report.changed = True
    console.print(f"  revision {report.revision}: {rollout.counts(api, opts.namespace, opts.release)}")
    try:
        _verify(api, helm, target, lock, docs, opts, report)
    except VerifyFailed as err:
        if live is not None:
            rollout.rollback(helm, opts.release, opts.namespace, live.number, opts.timeout_s)
            after = f"rolled back to revision {live.number}"
        else:
            rollout.uninstall(helm, opts.release, opts.namespace)
            after = "it was a first install, so the release was removed"
        raise VerifyFailed(f"{err}\n{after}.") from None
    report.outcome = "promoted"


def _verify(api: Any, helm: rollout.Helm, target: Target, lock: Lock, docs: list[dict[str, Any]], opts: Options,
            report: Report) -> None:  # fmt: skip
    with step("verify: models and helm test", report.timings_s):
        report.placement = [asdict(p) for p in rollout.placement(api, opts.namespace, opts.release)]
        services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"
                    and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "ollama"]  # fmt: skip
        if target.simulated:
            reason = ("skipped: the rehearsal cluster runs no containers, so no Ollama answers in it "
                      "(the same check runs against a real Ollama in tests/integration/test_promote.py)")  # fmt: skip
            report.verify["models"] = reason
            console.print(f"  models in the cluster: {reason}", soft_wrap=True)
        elif services:
            http, base = verify.service_proxy(api, opts.namespace, services[0])
            try:
                drift = verify.verify_models(http, base, lock)
            except Exception as err:
                raise VerifyFailed(
                    f"the cluster's Ollama did not answer through the API server's proxy: {err}"
                ) from None
            finally:
                http.close()
            if not drift.clean:
                raise VerifyFailed(describe(drift, f"the cluster's Ollama ({services[0]})"))
            report.verify["models"] = f"{len(drift.ok)} locked model(s) served with their digests"
        try:
            rollout.helm_test(helm, opts.release, opts.namespace, opts.timeout_s)
        except PromoteError as err:
            raise VerifyFailed(str(err)) from None
        report.verify["helm_test"] = (
            "passed (simulated: the test pod was admitted and completed, no inference ran)"
            if target.simulated
            else "passed (real inference on the fixture picture)"
        )


# --- presentation ------------------------------------------------------------------------------------------


def print_report(report: Report) -> None:
    table = Table(title=f"promote → {report.target} ({report.context}): {report.outcome}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("release", f"{report.release} in {report.namespace}, revision {report.revision} "
                  f"(before: {report.previous_revision})")  # fmt: skip
    table.add_row("chart", f"stacks/chart, files sha256 {report.chart}")
    table.add_row("app image", report.app_image)
    table.add_row("ollama image", report.ollama_image)
    for m in report.models:
        table.add_row("model", f"{m['model']} {m['digest'][:19]}… {m['size'] / 1e6:.0f} MB")
    for p in report.placement:
        table.add_row("GPU pod", f"{p['pod']} on {p['node']} ({p['gpus']}, {'ready' if p['ready'] else 'NOT ready'})")
    for name, text in report.verify.items():
        table.add_row(f"verify {name}", text)
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


KubeconfigOption = typer.Option(None, "--kubeconfig", help="default: $KUBECONFIG (sim: the sim's own)")
ValuesOption = typer.Option([], "--values", "-f", help="more values files, layered after the environment's")
ReportOption = typer.Option(None, "--report", help="write the report as JSON here")
LockOption = typer.Option(DEFAULT_LOCK, "--lock", help="the model lock")


def promote_command(
    to: str = typer.Option(..., "--to", help="kind, prod or sim"),
    kube_context: str | None = typer.Option(None, "--kube-context", help="the cluster's context (required for prod)"),
    kubeconfig: Path | None = KubeconfigOption,
    values: list[Path] = ValuesOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="render, validate server-side, show the diff; change nothing"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask before promoting to prod"),
    timeout: float = typer.Option(600, "--timeout", help="seconds the rollout and the helm test may take"),
    report: Path | None = ReportOption,
    from_lock: bool = typer.Option(False, "--from-lock", help="skip comparing the lock with the local Ollama"),
    host: str | None = typer.Option(None, "--host", help="the local Ollama (default: OLLAMA_HOST)"),
    lock: Path = LockOption,
    namespace: str = typer.Option("snap2prod", "--namespace", "-n"),
    release: str = typer.Option("snap2prod", "--release"),
    registry: str | None = typer.Option(
        None, "--registry", help="HOST[:PORT]/NAMESPACE: mirror the locked models there first; the cluster pulls them"
    ),
    insecure: bool = typer.Option(False, "--insecure", help="the --registry speaks plain HTTP"),
) -> None:
    """Promote the stack (chart, app image, Ollama, locked models) to a cluster: preflight, rollout, verify."""
    if to not in TARGETS:
        raise typer.BadParameter(f"must be one of {', '.join(TARGETS)}", param_hint="--to")
    opts = Options(to, kube_context, kubeconfig, values, dry_run, yes, timeout, report, from_lock, host, lock,
                   namespace, release, registry, insecure)  # fmt: skip
    try:
        done = promote(opts)
    except PromoteError as err:
        if isinstance(err.report, Report) and err.report.revision is not None:
            print_report(err.report)  # the rollout had started: show where it stands now
        console.print(f"[bold red]promote failed ({type(err).__name__}, exit {err.exit_code}):[/bold red] "
                      f"{escape(str(err))}", soft_wrap=True)  # fmt: skip
        raise typer.Exit(err.exit_code) from None
    print_report(done)
