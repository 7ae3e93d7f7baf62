"""The promotion, step by step: the identical stack onto a cluster, checked before and after.

Steps: target → values (one merged dict) → parity (lock vs the local Ollama, images by digest) → [mirror] →
render → preflight (the cluster can run it; nothing changes before this passes) → rollout (Helm install-or-upgrade,
rollback on failure, wait) → verify (the cluster's models against the lock, the chart's helm test) → report.

The steps are the same for every target; what differs is the target's own part, in scripts/promote/target.py
(``SimTarget``, ``KindTarget``, ``ProdTarget``): the value layers it adds (KIND: its local registry's images, keynote
mode's host address), its mirror default (KIND: its local registry) and where the cluster pulls the models from,
how strict preflight is, and the rehearsal section. ``Options`` is the command line, never changed: what the target
settles (the mirror) is computed beside it. ``undo`` is the one rollback policy of a failed rollout and of a failed
verify. Exit codes by class of failure: scripts/promote/errors.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml
from rich.markup import escape

from app.errors import Snap2ProdError
from app.gateway import OllamaGateway
from app.lock import DEFAULT_LOCK, Drift, Lock, describe, read_lock, write_lock
from app.settings import Settings
from scripts.console import console, elapsed, step
from scripts.kube import KubeClient
from scripts.models.library import mirror_models
from scripts.promote import memory, policies, preflight, rollout, verify
from scripts.promote.errors import (
    ParityFailed,
    PreflightFailed,
    PromoteError,
    RolloutFailed,
    VerifyFailed,
)
from scripts.promote.images import check_provenance
from scripts.promote.monitoring import watch
from scripts.promote.report import Report
from scripts.promote.target import REHEARSAL_CANNOT_SHOW as REHEARSAL_CANNOT_SHOW  # re-exported: it lived here
from scripts.promote.target import Promotion, Target, api_client, resolve_target
from scripts.promote.values import check_parity, effective, merge, merged_values

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Options:
    """The promotion as asked on the command line; never changed (what the target settles is computed beside it)."""

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
    retest: bool = False
    rehearse_prod: bool = False
    allow_unenforced_policies: bool = False
    allow_unrestricted_namespace: bool = False
    checks: bool = True
    """False skips the image signatures and the NetworkPolicy probe: only benchmark P6's baseline, which measures
    what they cost (the command line has no flag for it)."""


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
    target = resolve_target(opts.to, opts.kube_context, opts.kubeconfig, opts.yes, rehearsal=opts.rehearse_prod)
    report.context = target.context
    if opts.rehearse_prod:
        report.rehearsal = _rehearsal(target)
    lock = read_lock(opts.lock)
    values = merged_values(opts.to, opts.values, lock, opts.lock, rehearsal=opts.rehearse_prod)
    in_cluster = bool(effective(values)["ollama"]["enabled"])  # False: keynote mode, the host's Ollama
    asked = Promotion(in_cluster, opts.registry, opts.insecure, opts.from_lock, partial(local_ollama, opts), t)
    values = target.value_layers(values, asked)
    full = effective(values)
    _describe(report, lock, full)
    helm = rollout.Helm(target.kubeconfig, target.context)

    with step("parity: lock and images", t):
        parity = check_parity(lock, full, local_ollama(opts), opts.from_lock)
    console.print(f"  {escape(parity)}", soft_wrap=True)
    report.verify["parity"] = parity
    with step("provenance: each image's signature or pinned digest", t):
        policy = target.signing_policy(full)
        if policy is None:
            report.images = {"all": "skipped: the rehearsal cluster pulls no image"}
        elif not opts.checks:
            report.images = {"all": "skipped: checks off (the benchmark's baseline)"}
        else:
            report.images = check_provenance(full, policy)
    for name, how in report.images.items():
        console.print(f"  {name}: {escape(how)}", soft_wrap=True)
    registry, insecure = target.mirror_default(asked)
    if registry:
        lock, values = mirror(lock, values, replace(opts, registry=registry, insecure=insecure), t)
        report.verify["mirror"] = f"{len(lock.models)} model(s) in {registry}; the cluster pulls from there"
    if pulled := target.pull_values(asked):
        values = merge(values, pulled)
    if registry or pulled:
        full = effective(values)
    live_soon = _soon(rollout.current, helm, opts.release, opts.namespace)  # needs neither render nor preflight
    with step("render: chart with the merged values", t):
        docs = rollout.render(helm, values, opts.release, opts.namespace)
    report.watch = watch(docs, opts.namespace)
    api = api_client(target)
    try:
        if cluster := target.identify(api):
            console.print(f"  cluster: {escape(cluster)}", soft_wrap=True)
            report.verify["cluster"] = cluster
        _preflight(api, target, docs, full, lock, opts, report)
        live = live_soon.result()
        report.previous_revision = live.number if live else None
        if opts.dry_run:
            _dry_run(api, docs, live, opts, report)
        elif rollout.unchanged(live, values, report.chart):
            assert live is not None
            report.revision, report.outcome = live.number, "unchanged"
            console.print(
                f"  release {opts.release} revision {live.number} already runs this chart and these values: "
                "nothing to change"
            )
            _verify(
                api,
                helm,
                target,
                lock,
                docs,
                opts,
                report,
                allow_extras=_allow_extras(full),
                retest=opts.retest or not live.tested,
            )
        else:
            _rollout(api, helm, target, lock, docs, values, live, opts, report)
        t["total"] = elapsed(start)
    finally:
        api.close()


def _allow_extras(full: Mapping[str, Any]) -> bool:
    return bool(full.get("models", {}).get("allowExtras"))


def served_models(lock: Lock, drift: Drift) -> list[dict[str, Any]]:
    """The report's models as the cluster serves them: the digest the server reported and which of the lock's
    digests it is (an edited ``digest`` whose ``mirror_digest`` still matches shows as the mirror's)."""
    served = dict(drift.served)
    out = []
    for m in lock.models:
        digest = served.get(m.ref, m.digest)
        out.append({"model": m.ref, "digest": digest, "matched": m.matched_field(digest), "size": m.size})
    return out


def _describe(report: Report, lock: Lock, full: dict[str, Any]) -> None:
    """The report's record of what is promoted: the locked models, the images by digest, the chart's fingerprint."""
    report.models = [{"model": m.ref, "digest": m.digest, "size": m.size} for m in lock.models]
    report.app_image = f"{full['app']['image']['repository']}@{full['app']['image']['digest']}"
    report.ollama_image = (
        f"{full['ollama']['image']['repository']}:{full['ollama']['image']['tag']}@{full['ollama']['image']['digest']}"
    )
    gate = full.get("apiGate", {})
    report.gate_image = f"{gate['image']['repository']}@{gate['image']['digest']}" if gate.get("enabled") else ""
    report.chart = rollout.chart_fingerprint()


def _preflight(
    api: KubeClient,
    target: Target,
    docs: list[dict[str, Any]],
    full: dict[str, Any],
    lock: Lock,
    opts: Options,
    report: Report,
) -> None:
    """Every check against the cluster, as strict as the target asks; nothing changes before they pass."""
    with step(f"preflight: {target.context}", report.timings_s):
        try:
            facts = {} if opts.from_lock else model_memory(local_ollama(opts), lock)
            checks, _ = preflight.run(
                api,
                namespace=opts.namespace,
                release=opts.release,
                docs=docs,
                values=full,
                lock=lock,
                production=target.production,
                ingress_strict=target.ingress_strict,
                memory=facts,
                allow_unrestricted_namespace=opts.allow_unrestricted_namespace,
            )
        except PreflightFailed as err:
            report.checks = [asdict(c) for c in err.checks]
            raise
    report.checks = [asdict(c) for c in checks]
    for c in checks:
        mark = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}[c.status]
        console.print(f"  {mark} {escape(c.name)}: {escape(c.detail)}", soft_wrap=True)


def _soon(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` in a thread of its own, started now: work that overlaps other waiting instead of following it
    (a Helm run beside the render and preflight, the NetworkPolicy probe beside the helm test)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="promote")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)


def _rehearsal(target: Target) -> dict[str, Any]:
    """The report's rehearsal section, as the target gives it (a KIND cluster without a GPU-shaped worker cannot
    hold one)."""
    section = target.rehearsal_section()
    console.print(f"  production rehearsal: stacks/prod/values.yaml on {section['gpu_node']}, pods on CPU")
    return section


def mirror(lock: Lock, values: dict[str, Any], opts: Options, timings: dict[str, float]) -> tuple[Lock, dict[str, Any]]:
    """Push the locked models into the private registry (not in a dry run) and point the chart at it.

    The lock records the mirror and each model's mirror digest, as `snap2prod models mirror` does, and goes to
    the cluster with them, so the cluster's provisioning checks the digests the registry really serves.
    """
    assert opts.registry is not None
    if opts.dry_run:
        console.print(f"  dry run: would mirror {len(lock.models)} model(s) into {escape(opts.registry)}")
    else:
        gateway = OllamaGateway(local_ollama(opts))
        try:
            with step(f"mirror: locked models into {opts.registry}", timings):
                lock = mirror_models(gateway, lock, opts.registry, insecure=opts.insecure)
        except Snap2ProdError as err:
            raise ParityFailed(f"mirroring into {opts.registry} failed: {err}") from None
        finally:
            gateway.close()
        write_lock(lock, opts.lock)
    lock_data = yaml.safe_load(opts.lock.read_text()) if not opts.dry_run else values["models"]["lock"]
    mirrored = {"models": {"registry": opts.registry.strip("/"), "insecure": opts.insecure, "lock": lock_data}}
    return lock, merge(values, mirrored)


def _dry_run(
    api: KubeClient, docs: list[dict[str, Any]], live: rollout.Revision | None, opts: Options, report: Report
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
            console.print(
                f"  namespace {opts.namespace} does not exist: namespaced objects are validated when it "
                "does (the chart's schema was checked)"
            )
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
    api: KubeClient,
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
            if rollout.ensure_namespace(api, opts.namespace):
                console.print(f"  namespace {opts.namespace} created, enforcing Pod Security restricted")
            report.revision = rollout.install(
                helm,
                api,
                release=opts.release,
                namespace=opts.namespace,
                values=values,
                fingerprint=report.chart,
                timeout_s=opts.timeout_s,
                on_progress=lambda s: status.update(f"{label} — {s}"),
            )
    except PromoteError as err:
        after = undo(helm, live, opts, installed=False)
        settled = rollout.current(helm, opts.release, opts.namespace)
        report.revision = settled.number if settled else None
        report.placement = [asdict(p) for p in rollout.placement(api, opts.namespace, opts.release)]
        raise RolloutFailed(f"rollout failed: {err}\n{after}.") from None
    report.changed = True
    console.print(f"  revision {report.revision}: {rollout.counts(api, opts.namespace, opts.release)}")
    try:
        _verify(api, helm, target, lock, docs, opts, report, allow_extras=_allow_extras(effective(values)))
    except VerifyFailed as err:
        raise VerifyFailed(f"{err}\n{undo(helm, live, opts, installed=True)}.") from None
    report.outcome = "promoted"


def undo(helm: rollout.Helm, live: rollout.Revision | None, opts: Options, *, installed: bool) -> str:
    """The one rollback policy, for a failed rollout (``installed`` False) and a failed verify (True): a first
    install is removed; an upgrade goes back to the revision that ran before, unless Helm has already rolled back
    (its --rollback-on-failure, after a failed rollout). Returns the sentence that ends the error."""
    now = None if installed else rollout.current(helm, opts.release, opts.namespace)
    if live is None:
        if installed or now is not None:
            rollout.uninstall(helm, opts.release, opts.namespace)
        return "it was a first install, so the release was removed"
    if now is not None and now.status == "deployed" and now.number != live.number:
        return f"Helm rolled back to revision {live.number} (now revision {now.number})"
    rollout.rollback(helm, opts.release, opts.namespace, live.number, opts.timeout_s)
    return f"rolled back to revision {live.number}"


def _verify(
    api: KubeClient,
    helm: rollout.Helm,
    target: Target,
    lock: Lock,
    docs: list[dict[str, Any]],
    opts: Options,
    report: Report,
    *,
    allow_extras: bool,
    retest: bool = True,
) -> None:
    """The cluster's models against the lock (and nothing else unless ``allow_extras``), then the chart's helm
    test (unless it passed for this revision)."""
    with step("verify: models and helm test", report.timings_s):
        report.placement = [asdict(p) for p in rollout.placement(api, opts.namespace, opts.release)]
        services = [d for d in docs if d["kind"] == "Service" and _component(d) == "ollama"]
        if target.simulated:
            reason = (
                "skipped: the rehearsal cluster runs no containers, so no Ollama answers in it "
                "(the same check runs against a real Ollama in tests/integration/test_promote.py)"
            )
            report.verify["models"] = reason
            console.print(f"  models in the cluster: {reason}", soft_wrap=True)
        elif services:
            service, port = services[0]["metadata"]["name"], services[0]["spec"]["ports"][0]["port"]
            try:
                with verify.cluster_ollama(target.kubeconfig, target.context, opts.namespace, service, port) as gw:
                    drift = verify.verify_models(gw, lock)
            except Exception as err:
                raise VerifyFailed(f"the cluster's Ollama did not answer through a port-forward: {err}") from None
            if not drift.clean:
                raise VerifyFailed(describe(drift, f"the cluster's Ollama ({service})"))
            if drift.extra and not allow_extras:
                extra = ", ".join(drift.extra)
                raise VerifyFailed(
                    f"the cluster's Ollama ({service}) holds model(s) the lock does not name: {extra}. A cluster "
                    "serves the lock and nothing else: delete them (`ollama rm` in the Ollama pod), lock them, or "
                    "set models.allowExtras=true to accept them."
                )
            report.models = served_models(lock, drift)
            extras = f"; not locked, allowed by models.allowExtras: {', '.join(drift.extra)}" if drift.extra else ""
            report.verify["models"] = f"{len(drift.ok)} locked model(s) served with their digests{extras}"
        else:
            report.verify["models"] = (
                "keynote mode: no Ollama in the cluster; the app uses the host's Ollama, whose models parity "
                "compared with the lock"
            )
        policy_check = _soon(_timed_policies, api, target, docs, opts, report, retest)
        test_error: PromoteError | None = None
        if retest:  # the probe pods run beside the helm test's inference: neither waits for the other
            try:
                rollout.helm_test(helm, opts.release, opts.namespace, opts.timeout_s)
            except PromoteError as err:
                test_error = err
        report.verify["policies"] = policy_check.result()  # a policy verdict is reported first, as it is the cause
        console.print(f"  NetworkPolicies: {escape(report.verify['policies'])}", soft_wrap=True)
        if not retest:
            report.verify["helm_test"] = (
                f"passed for revision {report.revision} when it was rolled out; not re-run, nothing changed "
                "(--retest runs it again)"
            )
            console.print(f"  helm test: {report.verify['helm_test']}", soft_wrap=True)
            return
        if test_error is not None:
            ollama_pods = [p for p in rollout.release_pods(api, opts.namespace, opts.release) if _is_ollama(p)]
            raise VerifyFailed(str(test_error) + verify.memory_kill_hint(ollama_pods, docs, str(test_error))) from None
        report.verify["helm_test"] = (
            "passed (simulated: the test pod was admitted and completed, no inference ran)"
            if target.simulated
            else "passed (real inference on the fixture picture)"
        )


def _timed_policies(
    api: KubeClient, target: Target, docs: list[dict[str, Any]], opts: Options, report: Report, retest: bool
) -> str:
    """``_policies``, its own duration kept in the report's timings (it overlaps the helm test's)."""
    probed = time.monotonic()
    try:
        return _policies(api, target, docs, opts, report, retest=retest)
    finally:
        report.timings_s["policies"] = elapsed(probed)


def _policies(
    api: KubeClient, target: Target, docs: list[dict[str, Any]], opts: Options, report: Report, *, retest: bool
) -> str:
    """Whether the cluster enforces the chart's NetworkPolicies (scripts/promote/policies.py), once per revision:
    the verdict is kept as an annotation on Ollama's policy, so a no-op promotion reuses it."""
    service = next((d for d in docs if d["kind"] == "Service" and _component(d) == "ollama"), None)
    policy = next((d for d in docs if d["kind"] == "NetworkPolicy" and _component(d) == "ollama"), None)
    if target.simulated:
        return (
            "skipped: the rehearsal cluster runs no containers, so no pod can try a connection (KIND, whose "
            "kube-router enforces them, runs the check in tests/integration/test_kind.py)"
        )
    if service is None:
        return "skipped: keynote mode, no Ollama in the cluster"
    if policy is None:
        return "skipped: networkPolicy.enabled is false, so nothing keeps other pods from Ollama"
    if not opts.checks:
        return "skipped: checks off (the benchmark's baseline)"
    from kubernetes import client

    net = client.NetworkingV1Api(api)
    name = policy["metadata"]["name"]
    recorded = f"enforced at revision {report.revision}"
    if not retest and _annotation(net, name, opts.namespace) == recorded:
        return f"{recorded} (checked when it was rolled out; not re-run, nothing changed)"
    port = service["spec"]["ports"][0]["port"]
    try:
        verdict = policies.ollama_enforcement(
            api, opts.namespace, opts.release, docs, service["metadata"]["name"], port
        )
    except Exception as err:
        raise VerifyFailed(f"the NetworkPolicy check could not run its probe pods: {err}") from None
    if not verdict.conclusive:
        raise VerifyFailed(f"the NetworkPolicy check is {verdict.line}.")
    if not verdict.enforced:
        if not _exists(net.read_namespaced_network_policy, name, opts.namespace):
            verdict = policies.Enforcement(
                False,
                True,
                f"not enforced: Ollama's NetworkPolicy {name} is missing from namespace {opts.namespace} (deleted "
                "by hand?), and a pod without the app's labels reached Ollama: restore it (`helm rollback` to this "
                "revision re-creates it) and promote again with --retest",
            )
        if not opts.allow_unenforced_policies:
            raise VerifyFailed(
                f"NetworkPolicies {verdict.line}. (--allow-unenforced-policies accepts the risk instead.)"
            )
        return f"{verdict.line} (accepted by --allow-unenforced-policies)"
    patch = {"metadata": {"annotations": {policies.ANNOTATION: recorded}}}
    net.patch_namespaced_network_policy(name, opts.namespace, patch, _request_timeout=10)
    return verdict.line


def _annotation(net: Any, name: str, namespace: str) -> str | None:
    """The verdict kept on the live policy; None when it has none, or is gone (then the probe runs again)."""
    from kubernetes.client.exceptions import ApiException

    try:
        live = net.read_namespaced_network_policy(name, namespace, _request_timeout=10)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return ((live.metadata and live.metadata.annotations) or {}).get(policies.ANNOTATION)


def _exists(read: Callable[..., Any], *args: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        read(*args, _request_timeout=10)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def model_memory(host: str, lock: Lock) -> dict[str, memory.ModelMemory]:
    """The locked models' memory facts (model_info) from the local Ollama parity just compared with the lock."""
    gateway = OllamaGateway(host)
    try:
        return memory.read(gateway, lock)
    finally:
        gateway.close()


def local_ollama(opts: Options) -> str:
    """The local Ollama the lock is compared with and mirrored from: --host, else Settings (OLLAMA_HOST)."""
    return opts.host or Settings().ollama_host


def _is_ollama(pod: Any) -> bool:
    return bool((pod.metadata.labels or {}).get("app.kubernetes.io/component") == "ollama")


def _component(doc: dict[str, Any]) -> str:
    return str(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))
