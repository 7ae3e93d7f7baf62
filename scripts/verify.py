"""Verify: the models the cluster's Ollama serves are the locked ones.

The cluster's Ollama is reached through the API server's service proxy
(``/api/v1/namespaces/NS/services/NAME:http/proxy/api/tags``) with the kubeconfig's credentials, so nothing is
exposed and no port is forwarded. `ollama_tags` takes any base URL and HTTP client: the tests point the very
same code at a real local Ollama, because the rehearsal cluster runs no containers.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.gateway import ModelInfo
from app.lock import Drift, Lock, compare


def ollama_tags(http: httpx.Client, base: str) -> list[ModelInfo]:
    """``GET {base}/api/tags`` as ModelInfo (name, digest, size)."""
    response = http.get(f"{base.rstrip('/')}/api/tags")
    response.raise_for_status()
    return [
        ModelInfo(
            name=str(m.get("model") or m.get("name")), digest=str(m.get("digest", "")), size=int(m.get("size", 0))
        )
        for m in response.json().get("models") or []
    ]


def verify_models(http: httpx.Client, base: str, lock: Lock) -> Drift:
    return compare(lock, ollama_tags(http, base))


def service_proxy(api: Any, namespace: str, service: str, port: str = "http") -> tuple[httpx.Client, str]:
    """An HTTP client carrying the kubeconfig's credentials, and the base URL of a Service behind the API server's
    proxy."""
    cfg = api.configuration
    headers = {}
    token = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    if token:
        headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
    cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file else None
    verify: bool | str = cfg.ssl_ca_cert or True if cfg.verify_ssl else False
    http = httpx.Client(headers=headers, cert=cert, verify=verify, timeout=30)
    return http, f"{cfg.host}/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"
