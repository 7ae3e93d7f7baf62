"""The Kubernetes client as the commands use it: a typed face over the untyped kubernetes package.

The kubernetes package ships no type hints, so its ApiClient is ``Any`` to mypy. ``KubeClient`` names the part
snap2prod relies on (the connection settings, the raw REST client, ``close``); the typed API classes
(``client.CoreV1Api(api)``, ...) take it as it is.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Protocol


class KubeConfiguration(Protocol):
    """The connection settings of a client: where the API server is and the kubeconfig's credentials."""

    host: str
    api_key: dict[str, str]
    cert_file: str | None
    key_file: str | None
    ssl_ca_cert: str | None
    verify_ssl: bool


class KubeClient(Protocol):
    """A kubernetes ``ApiClient`` (close it when done)."""

    configuration: KubeConfiguration
    rest_client: Any

    def close(self) -> None: ...


def new_client(kubeconfig: Path | None, context: str | None) -> KubeClient:
    """A client for ``context`` of ``kubeconfig`` (None: $KUBECONFIG or ~/.kube/config, its current context)."""
    from kubernetes import config

    client: KubeClient = config.new_client_from_config(  # type: ignore[no-untyped-call]  # the package is untyped
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
    return client


def service_proxy_url(api: KubeClient, namespace: str, service: str, port: str) -> str:
    """The base URL of a Service behind the API server's proxy: reachable with the kubeconfig's credentials."""
    return f"{api.configuration.host}/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"


def credentials(api: KubeClient) -> tuple[dict[str, str], str | tuple[str, str] | None, bool | str | ssl.SSLContext]:
    """The kubeconfig's credentials for plain HTTP clients: (headers, client certificate, TLS verification).

    A client certificate (KIND's kubeconfig) comes inside an SSL context: httpx ignores ``cert`` when ``verify`` is
    a CA path, and the API server then sees system:anonymous (found with a real KIND cluster).
    """
    cfg = api.configuration
    headers = {}
    token = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    if token:
        headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
    cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else cfg.cert_file or None
    verify: bool | str = (cfg.ssl_ca_cert or True) if cfg.verify_ssl else False
    if cfg.cert_file and cfg.key_file:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
        return headers, None, context
    return headers, cert, verify
