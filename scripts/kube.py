"""The Kubernetes client as the commands use it: a typed face over the untyped kubernetes package.

The kubernetes package ships no type hints, so its ApiClient is ``Any`` to mypy. ``KubeClient`` names the part
snap2prod relies on (the connection settings, the raw REST client, ``close``); the typed API classes
(``client.CoreV1Api(api)``, ...) take it as it is.
"""

from __future__ import annotations

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
