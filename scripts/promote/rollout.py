"""The rollout: one merged values dict through Helm (pyhelm3), with progress, rollback, dry run and helm test.

pyhelm3 merges several value dicts by concatenating lists, unlike `helm -f`; we merge ourselves
(scripts.promote.values.merge) and hand it one dict.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import difflib
import hashlib
import json
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import toolchain
from scripts.kube import KubeClient
from scripts.paths import CHART
from scripts.processes import descendants
from scripts.promote.errors import PromoteError
from scripts.promote.preflight import HOOK, INSTANCE, POD_SECURITY
from scripts.promote.values import load_yaml_all

FINGERPRINT_PREFIX = "snap2prod promote chart="


def chart_fingerprint(chart: Path = CHART) -> str:
    """sha256 over the chart's files (paths and bytes): a changed template is a change even at the same version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in chart.rglob("*") if p.is_file()):
        digest.update(path.relative_to(chart).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Helm:
    """Where Helm talks to: the pinned binary, a kubeconfig and a context."""

    kubeconfig: Path | None
    context: str | None

    def command(self) -> Any:
        """pyhelm3's Command, not its Client: the Client first runs `helm version` and `helm show chart`, and
        parses the whole released manifest afterwards (pure-Python YAML); the rollout needs none of that."""
        from pyhelm3 import Command

        return Command(
            executable=str(toolchain.binary("helm")),
            kubeconfig=self.kubeconfig,
            kubecontext=self.context,
            default_timeout="5m",
        )

    def run(self, *args: str, stdin: str | None = None, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [str(toolchain.binary("helm")), *args]
        if self.kubeconfig:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            cmd += ["--kube-context", self.context]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, timeout=timeout_s)


def render(helm: Helm, values: Mapping[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's objects (hooks included) as Helm renders them with ``values``; the schema is checked here."""
    args = ("template", release, str(CHART), "--namespace", namespace, "--values", "-")
    proc = helm.run(*args, stdin=json.dumps(values))
    if proc.returncode != 0:
        raise PromoteError(f"the chart does not render with these values:\n{proc.stderr.strip()}")
    return [d for d in load_yaml_all(proc.stdout) if isinstance(d, dict)]


@dataclass(frozen=True)
class Revision:
    number: int
    status: str
    description: str
    values: dict[str, Any]
    manifest: str
    tested: bool = False  # the chart's test hooks last ran for this revision and all succeeded


def tests_passed(status: Mapping[str, Any]) -> bool:
    """Whether ``helm status -o json`` records a succeeded last run for every test hook (and there is one)."""
    tests = [h for h in status.get("hooks") or [] if "test" in (h.get("events") or [])]
    return bool(tests) and all((h.get("last_run") or {}).get("phase") == "Succeeded" for h in tests)


def current(helm: Helm, release: str, namespace: str) -> Revision | None:
    """The release's latest revision, or None when it does not exist."""
    proc = helm.run("status", release, "-n", namespace, "-o", "json", timeout_s=60)
    if proc.returncode != 0:
        if "not found" in proc.stderr:
            return None
        raise PromoteError(f"helm status {release} failed: {proc.stderr.strip()}")
    status = json.loads(proc.stdout)
    got = helm.run("get", "values", release, "-n", namespace, "-o", "json", timeout_s=60)
    values = json.loads(got.stdout or "{}") if got.returncode == 0 else {}
    info = status["info"]
    return Revision(
        int(status["version"]),
        str(info["status"]),
        str(info.get("description", "")),
        values or {},
        str(status.get("manifest", "")),
        tests_passed(status),
    )


def unchanged(revision: Revision | None, values: Mapping[str, Any], fingerprint: str) -> bool:
    """The deployed revision already runs this chart with these values."""
    return (
        revision is not None
        and revision.status == "deployed"
        and revision.description == FINGERPRINT_PREFIX + fingerprint
        and json.loads(json.dumps(revision.values)) == json.loads(json.dumps(values))
    )


@dataclass(frozen=True)
class PodCounts:
    total: int
    scheduled: int
    ready: int

    def __str__(self) -> str:
        return f"pods {self.scheduled}/{self.total} scheduled, {self.ready}/{self.total} ready"


def release_pods(api: KubeClient, namespace: str, release: str) -> list[Any]:
    from kubernetes import client

    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"{INSTANCE}={release}", _request_timeout=10)
        .items
    )
    return [
        p
        for p in pods
        if p.metadata and HOOK not in (p.metadata.annotations or {}) and not p.metadata.deletion_timestamp
    ]


def counts(api: KubeClient, namespace: str, release: str) -> PodCounts:
    pods = release_pods(api, namespace, release)
    ready = sum(1 for p in pods if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or [])))
    return PodCounts(len(pods), sum(1 for p in pods if p.spec.node_name), ready)


DIGEST_MISMATCH_EXIT = 3
"""pull-models' exit code when every model it could not provide arrived with another digest than the lock pins
(stacks/chart/files/pull-models.sh): the registry serves other bytes, and no retry changes that."""
FAILURES_FOR_GOOD = {DIGEST_MISMATCH_EXIT: 2}
"""How many failures in a row of an init container, by its exit code, mean it is not going to succeed: the kubelet
retries it with a growing back-off (10, 20, 40 s ...) until Helm's timeout (minutes), while the old release is
already replaced and the service down. A digest mismatch gets one retry. Any other failure is left to Helm's
timeout: a pull that failed may still pass (on KIND a registry's name has been seen to stay unknown to the
cluster's DNS for over a minute after the registry came up)."""


def init_failures(status: Any) -> int:
    """How many times in a row this init container has exited non-zero (0 while it has not failed)."""
    now = status.state.terminated if status.state else None
    last = status.last_state.terminated if status.last_state else None
    restarts = int(status.restart_count or 0)
    if now is not None:
        return restarts + 1 if now.exit_code != 0 else 0
    if last is not None and last.exit_code != 0:
        running = bool(status.state and status.state.running)
        return restarts + (0 if running else 1)
    return 0


def init_failed_for_good(api: KubeClient, namespace: str, release: str) -> str | None:
    """Which init container of the release failed for good, with the error lines of its log; None if none did."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    for pod in release_pods(api, namespace, release):
        for status in (pod.status.init_container_statuses if pod.status else None) or []:
            failures = init_failures(status)
            exited = (status.state.terminated if status.state else None) or (
                status.last_state.terminated if status.last_state else None
            )
            needed = FAILURES_FOR_GOOD.get(exited.exit_code) if exited is not None else None
            if exited is None or needed is None or failures < needed:
                continue
            try:
                log = client.CoreV1Api(api).read_namespaced_pod_log(
                    pod.metadata.name,
                    namespace,
                    container=status.name,
                    previous=status.state.terminated is None,
                    tail_lines=20,
                    _request_timeout=10,
                )
            except ApiException:
                log = ""
            lines = [line for line in str(log).splitlines() if "error" in line.lower()] or str(log).splitlines()
            said = "\n  ".join(lines[-4:])
            return (
                f"init container {status.name} of pod {pod.metadata.name} exited with code {exited.exit_code} "
                f"{failures} times in a row; promote stopped waiting for it" + (f". Its log:\n  {said}" if said else "")
            )
    return None


def stop_helm(release: str, namespace: str) -> list[int]:
    """SIGTERM our own `helm upgrade` of this release: Helm cancels its wait and, with --rollback-on-failure, rolls
    back (or removes a first install) before it exits. Signalled directly, not through pyhelm3's cancel, which stops
    only the shell Helm runs under and then waits for Helm's whole timeout."""
    stopped = []
    for pid, argv in descendants(os.getpid()).items():
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()  # the executable's name, whatever argv[0] says
        except OSError:
            continue
        if name == "helm" and "upgrade" in argv and release in argv and namespace in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
    return stopped


def ensure_namespace(api: KubeClient, namespace: str) -> bool:
    """Create the namespace enforcing Pod Security `restricted` (True), or leave an existing one as it is (False)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=dict(POD_SECURITY)))
    try:
        core.create_namespace(body, _request_timeout=10)
    except ApiException as err:
        if err.status == 409:  # it exists: its labels are its owner's
            return False
        raise PromoteError(f"cannot create namespace {namespace}: {err.status} {err.reason}") from None
    return True


def install(
    helm: Helm,
    api: KubeClient,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    fingerprint: str,
    timeout_s: float,
    on_progress: Callable[[str], None],
) -> int:
    """`helm upgrade --install --rollback-on-failure --wait` through pyhelm3, reporting pod counts while it runs.
    Returns the new revision; raises PromoteError with Helm's message when it failed (Helm rolled back), and stops
    Helm early (it rolls back) when an init container failed for good, with that container's own words."""
    from pyhelm3 import errors

    logging.getLogger("pyhelm3").setLevel(logging.ERROR)  # it logs the failed command line; the error says it all

    async def go() -> int:
        task = asyncio.ensure_future(
            helm.command().install_or_upgrade(
                release,
                CHART,
                dict(values),
                namespace=namespace,
                create_namespace=True,
                atomic=True,
                atomic_arg="--rollback-on-failure",
                wait=True,
                timeout=f"{int(timeout_s)}s",
                description=FINGERPRINT_PREFIX + fingerprint,
            )
        )
        failed: str | None = None
        while not task.done():
            with contextlib.suppress(Exception):  # the namespace may not exist yet; progress is best effort
                on_progress(str(await asyncio.to_thread(counts, api, namespace, release)))
            if failed is None:
                with contextlib.suppress(Exception):
                    failed = await asyncio.to_thread(init_failed_for_good, api, namespace, release)
                if failed is not None:
                    on_progress(f"{failed.splitlines()[0]}; stopping Helm (it rolls back)")
                    stop_helm(release, namespace)
            await asyncio.wait({task}, timeout=0.5)
        try:
            return int(task.result()["version"])
        except errors.Error as err:
            raise PromoteError(failed or str(err).strip() or type(err).__name__) from None

    return _run(go())


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    """asyncio.run, in a thread of its own when the caller already runs an event loop (a notebook, a test)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def rollback(helm: Helm, release: str, namespace: str, revision: int, timeout_s: float) -> None:
    proc = helm.run("rollback", release, str(revision), "-n", namespace, "--wait", "--timeout", f"{int(timeout_s)}s")
    if proc.returncode != 0:
        raise PromoteError(f"helm rollback to revision {revision} failed: {proc.stderr.strip()}")


def uninstall(helm: Helm, release: str, namespace: str) -> None:
    helm.run("uninstall", release, "-n", namespace, "--wait", timeout_s=300)


def helm_test(helm: Helm, release: str, namespace: str, timeout_s: float) -> str:
    """Runs the chart's test hook; returns Helm's output, raises PromoteError when it fails."""
    proc = helm.run("test", release, "-n", namespace, "--timeout", f"{int(timeout_s)}s", timeout_s=timeout_s + 60)
    if proc.returncode != 0:
        raise PromoteError(f"helm test failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Placement:
    pod: str
    node: str
    gpus: str
    ready: bool


def placement(api: KubeClient, namespace: str, release: str) -> list[Placement]:
    """Where the release's GPU pods run, and what they hold."""
    found = []
    for pod in release_pods(api, namespace, release):
        held = {
            name: value
            for c in pod.spec.containers
            for name, value in ((c.resources.limits if c.resources else None) or {}).items()
            if name.startswith("nvidia.com/")
        }
        claims = [c.name for c in (pod.spec.resource_claims or [])]
        if held or claims:
            ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
            gpus = ", ".join(f"{v} {k}" for k, v in held.items()) or f"DRA claims {', '.join(claims)}"
            found.append(Placement(pod.metadata.name, pod.spec.node_name or "(pending)", gpus, ready))
    return found


# --- dry run -------------------------------------------------------------------------------------------------


def validate_on_server(api: KubeClient, docs: Sequence[Mapping[str, Any]], namespace: str) -> list[str]:
    """Server-side apply of every non-hook object with dryRun=All and strict field validation: the API server
    validates and admits each one (Pod Security included) and stores nothing. Returns the refusals."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
    problems = []
    for doc in docs:
        if HOOK in (doc["metadata"].get("annotations") or {}):
            continue
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        path = resource.path(name=doc["metadata"]["name"], namespace=namespace if resource.namespaced else None)
        url = f"{api.configuration.host}{path}?dryRun=All&fieldValidation=Strict&fieldManager=snap2prod&force=true"
        body = {**doc, "metadata": {**doc["metadata"], **({"namespace": namespace} if resource.namespaced else {})}}
        try:
            api.rest_client.request(
                "PATCH",
                url,
                body=json.dumps(body),
                headers={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            ).read()
        except ApiException as err:
            message = json.loads(err.body or "{}").get("message", err.reason) if err.body else err.reason
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {message}")
    return problems


def _by_name(manifest: str | list[dict[str, Any]]) -> dict[str, str]:
    docs = load_yaml_all(manifest) if isinstance(manifest, str) else manifest
    return {
        f"{d['kind']}/{d['metadata']['name']}": yaml.safe_dump(d, sort_keys=True)
        for d in docs
        if isinstance(d, dict) and HOOK not in (d["metadata"].get("annotations") or {})
    }


def diff(live_manifest: str, docs: list[dict[str, Any]]) -> str:
    """A unified diff, object by object, of the live release's manifest against the rendered one."""
    live, new = _by_name(live_manifest), _by_name(docs)
    chunks: list[str] = []
    for name in sorted(live.keys() | new.keys()):
        before, after = live.get(name, ""), new.get(name, "")
        if before != after:
            chunks.extend(
                difflib.unified_diff(
                    before.splitlines(),
                    after.splitlines(),
                    f"live/{name}" if before else "/dev/null",
                    f"new/{name}" if after else "/dev/null",
                    lineterm="",
                )
            )
    return "\n".join(chunks)
