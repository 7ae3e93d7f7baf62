"""Heavy objects, created once per server process (``st.cache_resource``), and the page's error guard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import streamlit as st

from app.camera import Camera, Frame
from app.catalog import Catalog, load_catalog
from app.errors import Snap2ProdError
from app.fair_use import FairUse, person
from app.gateway import OllamaGateway
from app.metrics import Telemetry
from app.metrics import start as start_telemetry
from app.settings import Settings

T = TypeVar("T")


@st.cache_resource
def settings() -> Settings:
    return Settings()


@st.cache_resource
def telemetry() -> Telemetry:
    """/metrics on SNAP2PROD_METRICS_PORT, once per server process."""
    return start_telemetry(settings())


@st.cache_resource
def gateway() -> OllamaGateway:
    s = settings()
    return OllamaGateway(
        s.ollama_host,
        connect_timeout_s=s.connect_timeout_s,
        first_token_timeout_s=s.first_token_timeout_s,
        observer=telemetry(),
    )


@st.cache_resource
def catalog() -> Catalog | None:
    try:
        return load_catalog(Path(settings().catalog) if settings().catalog else None)
    except Snap2ProdError:
        return None


@st.cache_resource
def fair_use() -> FairUse:
    """One table of who has what running, per server process (app/fair_use.py); refusals go to /metrics."""
    return FairUse(settings().fair_use, on_refusal=telemetry().fair_use_refused)


@st.cache_resource
def sessions() -> set[str]:
    """The ids of the sessions this server process has held: a URL naming another one comes from a server that
    went away; one naming a session of this server is a reload or a second tab."""
    return set()


@st.cache_resource
def host_camera(source: str) -> Camera:
    return Camera(source).start()


@dataclass(frozen=True)
class Resources:
    """What every part of the page works with."""

    settings: Settings
    gateway: OllamaGateway
    catalog: Catalog | None
    telemetry: Telemetry
    sessions: set[str]
    fair_use: FairUse
    person: str
    """Who this session's requests count for (fair use): the signed-in person, or the client's address."""

    def host_frame(self, timeout_s: float) -> Frame:
        """The newest frame of the configured host camera, as decoded (no JPEG round trip)."""
        return host_camera(self.settings.camera).latest_frame(timeout_s=timeout_s)


def resources() -> Resources:
    s = settings()
    address = st.context.ip_address
    who = person(s.identity_header, st.context.headers, address if isinstance(address, str) else None)
    return Resources(s, gateway(), catalog(), telemetry(), sessions(), fair_use(), who)


def attempt(fn: Callable[[], T], default: T) -> T:
    """Run one call; on a known error show it and return ``default`` so the page keeps rendering."""
    try:
        return fn()
    except Snap2ProdError as err:
        st.error(str(err))
        return default
