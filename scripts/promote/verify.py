"""Verify: the models the cluster's Ollama serves are the locked ones.

The cluster's Ollama is reached through the API server's service proxy
(``/api/v1/namespaces/NS/services/NAME:http/proxy/api/tags``) with the kubeconfig's credentials, so nothing is
exposed and no port is forwarded. It is the app's own ``OllamaGateway`` pointed at that URL, so Ollama's answers
have one parser. The tests point the very same code at a real local Ollama, because the rehearsal cluster runs
no containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import RUNNER_KILLED
from app.gateway import OllamaGateway
from app.lock import Drift, Lock, compare
from scripts.kube import KubeClient, credentials, service_proxy_url


def verify_models(gateway: OllamaGateway, lock: Lock) -> Drift:
    """The lock against what ``gateway``'s Ollama lists."""
    return compare(lock, gateway.list_models())


def cluster_ollama(api: KubeClient, namespace: str, service: str, port: str = "http") -> OllamaGateway:
    """A gateway to the Ollama of a Service, through the API server's proxy with the kubeconfig's credentials."""
    headers, cert, verify = credentials(api)
    url = service_proxy_url(api, namespace, service, port)
    return OllamaGateway(url, headers=headers, cert=cert, verify=verify, connect_timeout_s=30, first_token_timeout_s=30)


def memory_kill_hint(pods: Sequence[Any], docs: Sequence[Mapping[str, Any]], output: str) -> str:
    """Why a failed helm test failed, when Ollama (or its runner) was killed for memory; "" otherwise.

    A runner killed inside the container leaves the pod Running (Ollama itself survives), so Ollama's own answer
    counts as much as an OOMKilled container status."""
    oom = [
        p.metadata.name
        for p in pods
        for s in (p.status.container_statuses or [])
        if any(t is not None and t.reason == "OOMKilled" for t in _terminations(s))
    ]
    if not oom and RUNNER_KILLED not in output:
        return ""
    limit = _ollama_memory_limit(docs)
    what = f"the Ollama container {', '.join(oom)} was OOMKilled" if oom else "Ollama's model runner was killed"
    return (
        f"\n{what}: most likely for memory. The Ollama container's memory limit is {limit} "
        "(ollama.resources.limits.memory); loading the model for the test needs more. Raise the limit (and the "
        "request with it), or lock a smaller model."
    )


def _terminations(status: Any) -> list[Any]:
    return [s.terminated for s in (status.state, status.last_state) if s is not None]


def _ollama_memory_limit(docs: Sequence[Mapping[str, Any]]) -> str:
    for doc in docs:
        labels = doc.get("metadata", {}).get("labels", {})
        if doc.get("kind") == "Deployment" and labels.get("app.kubernetes.io/component") == "ollama":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                if container["name"] == "ollama":
                    return str(container.get("resources", {}).get("limits", {}).get("memory", "not set"))
    return "not set"
