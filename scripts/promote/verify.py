"""Verify: the models the cluster's Ollama serves are the locked ones.

The cluster's Ollama is reached through the API server's service proxy
(``/api/v1/namespaces/NS/services/NAME:http/proxy/api/tags``) with the kubeconfig's credentials, so nothing is
exposed and no port is forwarded. It is the app's own ``OllamaGateway`` pointed at that URL, so Ollama's answers
have one parser. The tests point the very same code at a real local Ollama, because the rehearsal cluster runs
no containers.
"""

from __future__ import annotations

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
