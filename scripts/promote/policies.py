"""Whether the cluster enforces the chart's NetworkPolicies: pods that try to connect, and what they reached.

A cluster whose CNI ignores NetworkPolicies renders them and then does nothing, so "only the app reaches Ollama"
would be silently false. Verify therefore starts two short-lived pods from the app's own image, side by side: a
*probe* without the app's labels, which the policy must refuse, and a *control* with the app's labels, which must
connect (a refusal alone could mean "no endpoints", not "enforced"). Both run under the restricted Pod Security
Standard, with no service account token and a readiness probe that never passes, so no Service ever sends traffic
to them. The same pods serve the tests, which probe a policy's egress with the labels of the Ollama pod.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from scripts.kube import KubeClient

PROBE_LABEL = "snap2prod.io/policy-probe"
ANNOTATION = "snap2prod.io/policy-check"
"""On Ollama's NetworkPolicy: the revision whose enforcement verify proved (a no-op promotion reuses it)."""
CONNECT_TIMEOUT_S = 3
TRY_S = 12
"""How long each target is tried: a CNI programs a new pod's rules a moment after it starts (kube-router within
seconds), so one early try could pass or fail by luck. "Connected" once in the window counts; a target refused
for the whole window is refused."""
WAIT_S = 120.0
SETTLE_FOR_EGRESS_S = 10.0
"""How long a pod whose own egress is under test waits before its first try: a CNI programs a new pod's egress
rules a moment after it starts (kube-router, on an event), and a connection in that moment gets through. Verify's
probe needs no wait: it tests Ollama's ingress rules, which are in place before the probe pod exists."""

SCRIPT = """
import json, socket, sys, time
window, timeout, settle, targets = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
time.sleep(settle)
end = time.monotonic() + window
out = {t: "not tried" for t in targets}
while True:
    for target, seen in out.items():
        if seen == "connected":
            continue
        host, _, port = target.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            out[target] = "connected"
        except OSError as err:
            out[target] = f"{type(err).__name__}: {err}"
    if all(v == "connected" for v in out.values()) or time.monotonic() > end:
        break
    time.sleep(0.5)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Attempt:
    """What one pod reached: for each ``host:port``, "connected" or the error."""

    pod: str
    results: dict[str, str]

    def connected(self, target: str) -> bool:
        return self.results.get(target) == "connected"


def pod_template(docs: Sequence[Mapping[str, Any]], component: str) -> Mapping[str, Any]:
    """The pod spec of the release's Deployment of ``component`` (its image, security context, scheduling)."""
    for doc in docs:
        labels = doc.get("metadata", {}).get("labels", {})
        if doc.get("kind") == "Deployment" and labels.get("app.kubernetes.io/component") == component:
            return dict(doc["spec"]["template"])
    raise LookupError(f"the rendered chart has no {component} Deployment")


def probe_pod(
    name: str,
    labels: Mapping[str, str],
    like: Mapping[str, Any],
    targets: Sequence[str],
    settle_s: float = 0.0,
    window_s: float = TRY_S,
) -> dict[str, Any]:
    """A pod that tries to connect to each ``host:port`` (for ``window_s``, 0 = once, after ``settle_s``) and
    prints what happened, built from the pod template ``like`` (the app's: its image has Python, its security
    context is restricted)."""
    spec, container = like["spec"], like["spec"]["containers"][0]
    keep = {k: spec[k] for k in ("securityContext", "imagePullSecrets", "nodeSelector", "tolerations") if k in spec}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {**labels, PROBE_LABEL: "true"}},
        "spec": {
            **keep,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "activeDeadlineSeconds": int(WAIT_S),
            "containers": [
                {
                    "name": "probe",
                    "image": container["image"],
                    "imagePullPolicy": container.get("imagePullPolicy", "IfNotPresent"),
                    "command": ["python", "-c", SCRIPT, str(window_s), str(CONNECT_TIMEOUT_S), str(settle_s), *targets],
                    "securityContext": container.get("securityContext", {}),
                    # never Ready: no Service sends a browser or a request to it while it runs
                    "readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 60},
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "1Mi"},
                        "limits": {"memory": "64Mi", "ephemeral-storage": "8Mi"},
                    },
                }
            ],
        },
    }


def attempt(api: KubeClient, namespace: str, pods: Sequence[dict[str, Any]]) -> list[Attempt]:
    """Run the pods side by side, wait for them to finish, and return what each reached; they are deleted after."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    names = [str(p["metadata"]["name"]) for p in pods]
    try:
        for pod in pods:
            core.create_namespaced_pod(namespace, cast(Any, pod), _request_timeout=10)  # a dict serializes as is
        deadline = time.monotonic() + WAIT_S
        done: dict[str, Attempt] = {}
        while len(done) < len(names):
            for name in names:
                if name in done:
                    continue
                status = core.read_namespaced_pod(name, namespace, _request_timeout=10).status
                phase = status.phase if status else None
                if phase in ("Succeeded", "Failed"):
                    log = core.read_namespaced_pod_log(name, namespace, _request_timeout=10)
                    done[name] = Attempt(name, _results(log, phase))
            if time.monotonic() > deadline:
                late = ", ".join(n for n in names if n not in done)
                raise TimeoutError(f"the policy probe pod(s) {late} did not finish within {WAIT_S:g} s")
            time.sleep(0.5)
        return [done[n] for n in names]
    finally:
        for name in names:
            try:
                core.delete_namespaced_pod(name, namespace, grace_period_seconds=0, _request_timeout=10)
            except client.exceptions.ApiException as err:
                if err.status != 404:
                    raise


def _results(log: str, phase: str) -> dict[str, str]:
    lines = [line for line in log.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the policy probe pod ended {phase} without a result: {log.strip()[-300:]}")
    return {str(k): str(v) for k, v in json.loads(lines[-1]).items()}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Enforcement:
    """The verdict: ``enforced`` when the control connected and the probe did not; ``line`` says it for a person."""

    enforced: bool
    conclusive: bool
    line: str


def ollama_enforcement(
    api: KubeClient, namespace: str, release: str, docs: Sequence[Mapping[str, Any]], service: str, port: int
) -> Enforcement:
    """The probe (no app labels) and the control (the app's labels) try the Ollama Service's port."""
    app = pod_template(docs, "app")
    target = f"{service}.{namespace}.svc:{port}"
    stranger = {"app.kubernetes.io/name": "snap2prod-policy-probe", "app.kubernetes.io/instance": release}
    probe, control = unique("snap2prod-policy-probe"), unique("snap2prod-policy-control")
    # the stranger tries once: Ollama's ingress rules exist before it does, so its first try meets them; the
    # control tries for the window, until the CNI has let its new address in
    tried = attempt(
        api,
        namespace,
        [
            probe_pod(probe, stranger, app, [target], window_s=0),
            probe_pod(control, app["metadata"]["labels"], app, [target]),
        ],
    )
    stranger_tried, control_tried = tried
    if not control_tried.connected(target):
        return Enforcement(
            False,
            False,
            f"inconclusive: a pod with the app's labels could not reach {target} either "
            f"({control_tried.results.get(target)}), so a refusal proves nothing",
        )
    if stranger_tried.connected(target):
        return Enforcement(
            False,
            True,
            "not enforced: the cluster does not enforce NetworkPolicies — a pod without the app's labels reached "
            f"Ollama at {target}, as a pod with them did: install a CNI that enforces them (Calico, Cilium, "
            "kube-router, …); until then nothing keeps Ollama, which has no authentication, to the app",
        )
    return Enforcement(
        True,
        True,
        f"enforced: a pod without the app's labels was refused at {target} "
        f"({stranger_tried.results.get(target)}); one with them connected",
    )
