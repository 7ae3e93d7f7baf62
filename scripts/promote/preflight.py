"""Preflight: what the cluster must offer before a promotion changes anything in it.

Every check reads the cluster through the kubernetes client and the chart as Helm renders it with the merged
values, so the GPU check uses the very node selector, tolerations and requests the pods will carry. A check is
``ok``, ``warn`` (shown, the promotion goes on) or ``fail`` (the promotion stops before touching the cluster).

GPU memory: what each locked model takes loaded (``memory``: weights, KV cache for the pod's OLLAMA_NUM_PARALLEL
and OLLAMA_CONTEXT_LENGTH, vision projector) against the ``nvidia.com/gpu.memory`` label (MiB, set by GPU feature
discovery; ``nvidia.com/mig-<profile>.memory`` for MIG slices) times the GPUs per pod. The largest model not
fitting is a failure (Ollama would run it partly on the CPU); all models together not fitting is a warning (Ollama
loads them in turn). Without the local Ollama's model_info (``--from-lock``) only the weights are counted: a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from app.catalog import Catalog, load_catalog
from app.lock import Lock
from scripts.kube import KubeClient
from scripts.promote import images
from scripts.promote.errors import PreflightFailed
from scripts.promote.memory import GIB, ModelMemory, default_context

MIN_VERSION = (1, 29)  # stacks/chart/Chart.yaml: kubeVersion ">=1.29.0-0"
HOOK = "helm.sh/hook"
INSTANCE = "app.kubernetes.io/instance"

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok``, ``warn`` (shown, the promotion goes on) or ``fail``."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class GpuPod:
    """A workload of the chart whose pods ask for GPUs."""

    workload: str
    replicas: int
    resource: str
    count: int
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    env: Mapping[str, str] = field(default_factory=dict)
    """The literal environment of the containers that ask for the GPU (Ollama's settings)."""

    def setting(self, name: str) -> int | None:
        value = self.env.get(name, "")
        return int(value) if value.isdigit() and int(value) > 0 else None


def gpu_workloads(docs: Iterable[Mapping[str, Any]]) -> list[GpuPod]:
    """The chart's Deployments/StatefulSets whose containers limit an ``nvidia.com/`` resource."""
    found: list[GpuPod] = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet") or HOOK in (doc["metadata"].get("annotations") or {}):
            continue
        spec = doc["spec"]["template"]["spec"]
        needs: dict[str, int] = {}
        env: dict[str, str] = {}
        for container in spec.get("containers", []):
            for name, value in ((container.get("resources") or {}).get("limits") or {}).items():
                if name.startswith("nvidia.com/"):
                    needs[name] = needs.get(name, 0) + int(value)
                    env |= {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
        for resource, count in needs.items():
            found.append(
                GpuPod(
                    workload=f"{doc['kind']}/{doc['metadata']['name']}",
                    replicas=int(doc["spec"].get("replicas", 1)),
                    resource=resource,
                    count=count,
                    node_selector=dict(spec.get("nodeSelector") or {}),
                    tolerations=tuple(spec.get("tolerations") or ()),
                    env=env,
                )
            )
    return found


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Any) -> bool:
    """Kubernetes' toleration rule for one taint."""
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = t.get("key") or ""
        operator = t.get("operator") or "Equal"
        if not key and operator == "Exists":
            return True
        if key == taint.key and (operator == "Exists" or (t.get("value") or "") == (taint.value or "")):
            return True
    return False


def matching_nodes(nodes: Iterable[Any], pod: GpuPod) -> list[Any]:
    """Schedulable, Ready nodes whose labels match the pod's selector and whose taints it tolerates."""
    found = []
    for node in nodes:
        labels = node.metadata.labels or {}
        if node.spec.unschedulable:
            continue
        if not any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or [])):
            continue
        if any(labels.get(k) != v for k, v in pod.node_selector.items()):
            continue
        hard = [t for t in (node.spec.taints or []) if t.effect in ("NoSchedule", "NoExecute")]
        if all(tolerates(pod.tolerations, t) for t in hard):
            found.append(node)
    return found


def _quantity(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def free_devices(
    nodes: Iterable[Any], pods: Iterable[Any], resource: str, release: str, namespace: str
) -> dict[str, tuple[int, int]]:
    """Per node: (free, allocatable) of ``resource``; the release's own pods count as free (an upgrade replaces
    them)."""
    used: dict[str, int] = {}
    for pod in pods:
        if not pod.spec.node_name or (pod.status and pod.status.phase in ("Succeeded", "Failed")):
            continue
        if pod.metadata.namespace == namespace and (pod.metadata.labels or {}).get(INSTANCE) == release:
            continue
        for c in pod.spec.containers or []:
            limits = (c.resources.limits if c.resources else None) or {}
            used[pod.spec.node_name] = used.get(pod.spec.node_name, 0) + _quantity(limits.get(resource))
    result = {}
    for node in nodes:
        allocatable = _quantity((node.status.allocatable or {}).get(resource))
        result[node.metadata.name] = (allocatable - used.get(node.metadata.name, 0), allocatable)
    return result


def check_gpus(pod: GpuPod, nodes: list[Any], pods: list[Any], release: str, namespace: str) -> tuple[Check, list[Any]]:
    """Place the workload's replicas on the matching nodes' free devices, biggest gap first."""
    candidates = matching_nodes(nodes, pod)
    what = f"{pod.workload}: {pod.replicas} pod(s) × {pod.count} {pod.resource}"
    if not candidates:
        selector = ", ".join(f"{k}={v}" for k, v in pod.node_selector.items()) or "none"
        return Check(
            "GPU capacity",
            "fail",
            f"{what}; no schedulable node matches (node selector {selector}, "
            f"tolerations {[t.get('key') for t in pod.tolerations]})",
        ), []
    free = free_devices(candidates, pods, pod.resource, release, namespace)
    left = {name: f for name, (f, _) in free.items()}
    placed = 0
    for _ in range(pod.replicas):
        best = max(left, key=lambda n: left[n])
        if left[best] < pod.count:
            break
        left[best] -= pod.count
        placed += 1
    listing = ", ".join(f"{n} {f} free of {a}" for n, (f, a) in sorted(free.items()))
    if placed < pod.replicas:
        return Check("GPU capacity", "fail", f"{what} on one node each, but the matching nodes have: {listing}"), []
    fitting = [n for n in candidates if free[n.metadata.name][0] >= pod.count]
    return Check("GPU capacity", "ok", f"{what}; {listing}"), fitting


def memory_label(resource: str) -> str:
    return f"{resource}.memory" if resource.startswith("nvidia.com/mig-") else "nvidia.com/gpu.memory"


def check_model_memory(pod: GpuPod, nodes: list[Any], lock: Lock, memory: Mapping[str, ModelMemory]) -> list[Check]:
    """Each locked model loaded as the pod's Ollama would load it, against the smallest matching GPU."""
    name = "models fit in GPU memory"
    if not lock.models:
        return [Check(name, "warn", "the lock names no models")]
    label = memory_label(pod.resource)
    mibs = [int(m) for n in nodes if (m := (n.metadata.labels or {}).get(label, "")).isdigit()]
    if not mibs:
        return [Check(name, "warn", f"no node label {label}: GPU memory not checked")]
    available = min(mibs) * 1024 * 1024 * pod.count
    room = f"{available / GIB:.1f} GiB ({pod.count} × {min(mibs)} MiB, label {label})"
    checks = []
    context = pod.setting("OLLAMA_CONTEXT_LENGTH")
    if context is None:
        context = default_context(available)
        checks.append(
            Check(
                "context length",
                "warn",
                f"OLLAMA_CONTEXT_LENGTH is unset: Ollama picks the context from the GPU memory (4096 tokens below "
                f"23 GiB, 32768 below 47 GiB, else 262144), here {context} tokens on {available / GIB:.1f} GiB; "
                "set ollama.env.contextLength to what the app needs",
            )
        )
    parallel = pod.setting("OLLAMA_NUM_PARALLEL") or 1
    if not all(m.ref in memory for m in lock.models):
        checks.append(_weights_only(name, lock, available, room))
        return checks
    needs = {m.ref: memory[m.ref].total(parallel, context) for m in lock.models}
    largest = max(lock.models, key=lambda m: needs[m.ref])
    facts = memory[largest.ref]
    parts = (
        f"weights {facts.weights / GIB:.2f} GiB + KV cache {facts.kv_cache(parallel, context) / GIB:.2f} GiB "
        f"({parallel} parallel × {facts.context(context)} tokens × {facts.kv_bytes_per_token} B/token, f16) "
        f"+ vision projector {facts.projector / GIB:.2f} GiB"
    )
    total = sum(needs.values())
    if needs[largest.ref] > available:
        fix = "lower ollama.env.contextLength or numParallel, or ask for more GPU memory"
        what = f"{largest.ref} needs {needs[largest.ref] / GIB:.1f} GiB ({parts}): does not fit in {room}; {fix}"
        checks.append(Check(name, "fail", what))
    elif total > available:
        what = f"all {len(lock.models)} models ({total / GIB:.1f} GiB loaded) exceed {room}: Ollama loads them in turn"
        checks.append(Check(name, "warn", what))
    else:
        checks.append(Check(name, "ok", f"{total / GIB:.2f} GiB loaded in {room}; largest {largest.ref}: {parts}"))
    return checks


def _weights_only(name: str, lock: Lock, available: int, room: str) -> Check:
    """The check without model_info: weights from the lock, and a warning that the KV cache was not counted."""
    largest = max(lock.models, key=lambda m: m.size)
    total = sum(m.size for m in lock.models)
    if largest.size > available:
        return Check(name, "fail", f"{largest.ref} ({largest.size / GIB:.1f} GiB) does not fit in {room}")
    return Check(
        name,
        "warn",
        f"{total / GIB:.2f} GiB of weights in {room}; KV cache and projector not counted "
        "(no model_info: promote without --from-lock to read it from the local Ollama)",
    )


def check_version(api: KubeClient) -> Check:
    from kubernetes import client

    try:
        info = client.VersionApi(api).get_code(_request_timeout=10)
    except Exception as err:  # refused, TLS, DNS: the cluster is not reachable as configured
        raise PreflightFailed(f"the API server at {api.configuration.host} does not answer: {err}") from None
    major, minor = int(info.major), int(re.sub(r"\D.*", "", info.minor) or 0)
    if (major, minor) < MIN_VERSION:
        return Check(
            "Kubernetes version", "fail", f"{info.git_version}; the chart needs ≥ {MIN_VERSION[0]}.{MIN_VERSION[1]}"
        )
    return Check("Kubernetes version", "ok", f"{info.git_version} at {api.configuration.host}")


POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
POD_SECURITY = {POD_SECURITY_ENFORCE: "restricted", f"{POD_SECURITY_ENFORCE}-version": "latest"}
"""The labels a namespace promote creates gets: the API server admits only pods of Pod Security's `restricted`
level, the one the chart's pods meet (non-root, no privilege escalation, no capabilities, seccomp)."""


def check_namespace(
    api: KubeClient, namespace: str, *, production: bool = False, allow_unrestricted: bool = False
) -> Check:
    """The namespace can take the release: promote creates a missing one enforcing Pod Security ``restricted``.
    In production an existing one that enforces less (or nothing) is refused: the chart's pods meet
    ``restricted``, and a namespace that admits privileged pods beside a GPU server is a door left open;
    ``allow_unrestricted`` (--allow-unrestricted-namespace) accepts it, and the report says so."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        ns = client.CoreV1Api(api).read_namespace(namespace, _request_timeout=10)
    except ApiException as err:
        if err.status == 404:
            return Check(
                "namespace",
                "ok",
                f"{namespace} does not exist yet: promote creates it, enforcing Pod Security restricted",
            )
        return Check("namespace", "fail", f"{namespace}: cannot read it ({err.status} {err.reason})")
    if ns.status and ns.status.phase == "Terminating":
        return Check("namespace", "fail", f"{namespace} is being deleted; wait until it is gone")
    level = ((ns.metadata.labels if ns.metadata else None) or {}).get(POD_SECURITY_ENFORCE)
    if level == "restricted":
        return Check("namespace", "ok", f"{namespace} exists and enforces Pod Security restricted")
    enforces = f"enforces Pod Security {level}" if level else "enforces no Pod Security level"
    fix = f"`kubectl label --overwrite namespace {namespace} {POD_SECURITY_ENFORCE}=restricted`"
    if production and not allow_unrestricted:
        return Check(
            "namespace",
            "fail",
            f"{namespace} exists and {enforces}: production needs restricted, which the chart's pods meet; "
            f"{fix}, or accept it with --allow-unrestricted-namespace",
        )
    if production:
        return Check(
            "namespace",
            "warn",
            f"{namespace} exists and {enforces}; accepted by --allow-unrestricted-namespace: pods that need more "
            "than restricted may run beside Ollama",
        )
    return Check(
        "namespace",
        "ok" if level else "warn",
        f"{namespace} exists and {enforces}; the chart's pods meet restricted: {fix}",
    )


def _name(obj: Any) -> str:
    return str(obj.metadata.name) if obj.metadata else ""


def _default(items: Iterable[Any], annotation: str) -> str | None:
    for item in items:
        if (item.metadata.annotations or {}).get(annotation) == "true":
            return str(item.metadata.name)
    return None


def check_storage(api: KubeClient, docs: Sequence[Mapping[str, Any]]) -> Check | None:
    from kubernetes import client

    claims = [d for d in docs if d.get("kind") == "PersistentVolumeClaim"]
    if not claims:
        return None
    classes = client.StorageV1Api(api).list_storage_class(_request_timeout=10).items
    names = {_name(c) for c in classes}
    for claim in claims:
        wanted = claim["spec"].get("storageClassName")
        if wanted and wanted not in names:
            return Check(
                "StorageClass",
                "fail",
                f"{claim['metadata']['name']} asks for StorageClass {wanted!r}; "
                f"the cluster has: {', '.join(sorted(names)) or 'none'}",
            )
        if not wanted:
            default = _default(classes, "storageclass.kubernetes.io/is-default-class")
            if default is None:
                return Check(
                    "StorageClass",
                    "fail",
                    f"{claim['metadata']['name']} uses the default StorageClass "
                    "and the cluster has none; set ollama.persistence.storageClassName",
                )
            wanted = f"{default} (default)"
        return Check("StorageClass", "ok", f"{claim['metadata']['name']} → {wanted}")
    return None


def check_ingress(api: KubeClient, docs: Sequence[Mapping[str, Any]], strict: bool) -> Check | None:
    from kubernetes import client

    ingresses = [d for d in docs if d.get("kind") == "Ingress"]
    if not ingresses:
        return None
    classes = client.NetworkingV1Api(api).list_ingress_class(_request_timeout=10).items
    wanted = ingresses[0]["spec"].get("ingressClassName") or _default(
        classes, "ingressclass.kubernetes.io/is-default-class"
    )
    names = {_name(c) for c in classes}
    if wanted and wanted in names:
        return Check("ingress class", "ok", wanted)
    why = f"IngressClass {wanted!r} does not exist" if wanted else "no ingressClassName and no default IngressClass"
    fix = "install the ingress controller, or set ingress.className / ingress.enabled=false"
    return Check("ingress class", "fail" if strict else "warn", f"{why}: {fix}")


def check_runtime_classes(api: KubeClient, docs: Sequence[Mapping[str, Any]]) -> Check | None:
    from kubernetes import client

    wanted = {
        d["spec"]["template"]["spec"]["runtimeClassName"]
        for d in docs
        if d.get("kind") in ("Deployment", "StatefulSet") and d["spec"]["template"]["spec"].get("runtimeClassName")
    }
    if not wanted:
        return None
    have = {_name(r) for r in client.NodeV1Api(api).list_runtime_class(_request_timeout=10).items}
    missing = sorted(wanted - have)
    if missing:
        return Check("RuntimeClass", "fail", f"{', '.join(missing)} missing (the GPU Operator creates `nvidia`)")
    return Check("RuntimeClass", "ok", ", ".join(sorted(wanted)))


def check_digests(values: Mapping[str, Any]) -> Check:
    placeholders = images.placeholders(values)
    if placeholders:
        return Check(
            "image digests",
            "fail",
            f"{', '.join(placeholders)} still the all-zero placeholder; a real "
            "cluster cannot pull it (set the pushed image's digest)",
        )
    return Check("image digests", "ok", "pinned, no placeholder")


def check_models_run(lock: Lock, values: Mapping[str, Any], catalog: Catalog | None = None) -> Check:
    """Every locked model runs on the Ollama the chart deploys, as far as the catalog knows (models/catalog.yaml
    records, per Ollama version, which models load)."""
    version = str(values.get("ollama", {}).get("image", {}).get("tag", ""))
    catalog = catalog or load_catalog()
    refused = [why for m in lock.models if (why := catalog.refusal(m.ref, version)) is not None]
    if refused:
        return Check("models run", "fail", " ".join(refused))
    return Check("models run", "ok", f"no locked model is known not to load on Ollama {version}")


def check_egress(values: Mapping[str, Any], production: bool) -> Check | None:
    """The Ollama pod's NetworkPolicy lets its init container reach where the models come from: the mirror
    (``models.registry``, named in ``networkPolicy.mirror``), or the public registry when a value says so."""
    policy, models = values.get("networkPolicy", {}), values.get("models", {})
    if not values.get("ollama", {}).get("enabled") or not policy.get("enabled"):
        return None
    registry, public = str(models.get("registry") or ""), bool(policy.get("allowPublicRegistry"))
    peers = (policy.get("mirror") or {}).get("to") or []
    name = "model egress"
    if registry and peers:
        extra = " and the public Ollama registry (networkPolicy.allowPublicRegistry)" if public else ""
        return Check(name, "ok", f"Ollama reaches DNS and the mirror {registry} ({len(peers)} peer(s)){extra} only")
    if registry:
        why = f"models.registry is {registry}, but networkPolicy.mirror.to names no peer"
        fix = "name the mirror's namespace, pods or address there (stacks/chart/values.yaml shows how)"
        if public:
            return Check(name, "warn", f"{why}: Ollama reaches it only if it is a public HTTPS address; {fix}")
        refused = f"{why}: the NetworkPolicy would refuse the init container's pulls; {fix}"
        return Check(name, "fail" if production else "warn", refused)
    if public:
        return Check(
            name,
            "warn",
            "no mirror is set (models.registry): Ollama pulls from the public Ollama registry, which "
            "networkPolicy.allowPublicRegistry lets it reach; mirror the lock (--registry) to serve it from "
            "your own registry",
        )
    return Check(
        name,
        "fail" if production else "warn",
        "no mirror is set (models.registry) and the NetworkPolicy lets Ollama reach only DNS and the mirror: the "
        "init container could not pull the models. Mirror the lock (--registry HOST/NAMESPACE, with "
        "networkPolicy.mirror naming it), or, for a connected cluster, set networkPolicy.allowPublicRegistry=true",
    )


@contextmanager
def refusals_explained() -> Iterator[None]:
    """The API server refusing a read (RBAC's 403 on listing nodes is the likely one in production) becomes one
    PreflightFailed that names the request and what to ask for, never a client traceback."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as err:
        request = _request_of(err)
        why = f"{err.status} {err.reason}".strip()
        hint = {
            401: "the credentials of this context are not accepted (expired token or certificate?)",
            403: "these credentials may not make it; preflight reads nodes, pods, namespaces, StorageClasses, "
            "IngressClasses and RuntimeClasses cluster-wide: ask the cluster's admins for get/list on them",
        }.get(err.status or 0, "see the API server's message")
        detail = _api_message(err)
        raise PreflightFailed(
            f"preflight failed, nothing was changed in the cluster: the API server refused {request} ({why}): "
            f"{hint}" + (f"; it said: {detail}" if detail else "")
        ) from None


def _request_of(err: Any) -> str:
    """What was asked, from the refusal's Status details ("list nodes"), else "a read"."""
    import json

    try:
        status = json.loads(err.body or "{}")
    except ValueError:
        return "a read"
    kind = (status.get("details") or {}).get("kind")
    verb = re.search(r"cannot (\w+) resource", status.get("message", ""))
    return f"{verb.group(1)} {kind}" if verb and kind else "a read"


def _api_message(err: Any) -> str:
    import json

    try:
        return str(json.loads(err.body or "{}").get("message", ""))
    except ValueError:
        return ""


def run(
    api: KubeClient,
    *,
    namespace: str,
    release: str,
    docs: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    lock: Lock,
    production: bool,
    ingress_strict: bool,
    memory: Mapping[str, ModelMemory] | None = None,
    allow_unrestricted_namespace: bool = False,
) -> tuple[list[Check], list[str]]:
    """Every check; returns them and the names of the nodes the GPU pods can go to. Raises PreflightFailed
    (listing every failed check) when one fails, or naming the request the API server refused."""
    with refusals_explained():
        return _run(
            api,
            namespace=namespace,
            release=release,
            docs=docs,
            values=values,
            lock=lock,
            production=production,
            ingress_strict=ingress_strict,
            memory=memory,
            allow_unrestricted_namespace=allow_unrestricted_namespace,
        )


def _run(
    api: KubeClient,
    *,
    namespace: str,
    release: str,
    docs: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    lock: Lock,
    production: bool,
    ingress_strict: bool,
    memory: Mapping[str, ModelMemory] | None,
    allow_unrestricted_namespace: bool,
) -> tuple[list[Check], list[str]]:
    from kubernetes import client

    checks = [
        check_version(api),
        check_namespace(api, namespace, production=production, allow_unrestricted=allow_unrestricted_namespace),
        check_models_run(lock, values),
    ]
    gpu_nodes: list[str] = []
    gpu_pods = gpu_workloads(docs)
    if gpu_pods:
        core = client.CoreV1Api(api)
        nodes = core.list_node(_request_timeout=10).items
        pods = core.list_pod_for_all_namespaces(_request_timeout=10).items
        for pod in gpu_pods:
            check, fitting = check_gpus(pod, nodes, pods, release, namespace)
            checks.append(check)
            if fitting:
                checks += check_model_memory(pod, fitting, lock, memory or {})
                gpu_nodes += [n.metadata.name for n in fitting]
    elif values.get("gpu", {}).get("enabled") and values.get("gpu", {}).get("dra", {}).get("enabled"):
        checks.append(Check("GPU capacity", "warn", "DRA: the scheduler allocates the device; not counted here"))
    else:
        checks.append(Check("GPU capacity", "ok", "no GPU asked for (CPU only)"))
    for extra in (
        check_egress(values, production),
        check_storage(api, list(docs)),
        check_ingress(api, list(docs), ingress_strict),
        check_runtime_classes(api, list(docs)),
    ):
        if extra is not None:
            checks.append(extra)
    if production:
        checks.append(check_digests(values))
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        raise PreflightFailed(
            "preflight failed, nothing was changed in the cluster:\n"
            + "\n".join(f"  ✗ {c.name}: {c.detail}" for c in failed),
            checks,
        )
    return checks, gpu_nodes
