"""The sidebar: is Ollama there, what is loaded (VRAM), what is installed, and pulling catalog models."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import streamlit as st

from app import catalog as cat
from app.errors import Snap2ProdError
from app.gateway import LoadedModel, ModelInfo, Progress
from app.session import PageState
from app.ui.resources import Resources, attempt

GIB = 2**30


@dataclass(frozen=True)
class Status:
    """What the server said in this run; ``version`` is "" when it did not answer."""

    version: str = ""
    installed: list[ModelInfo] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return bool(self.version)


def loaded_caption(model: LoadedModel) -> str:
    return f"loaded: {model.name} — {model.size_vram / GIB:.1f} GiB VRAM of {model.size / GIB:.1f} GiB"


def render(res: Resources, state: PageState) -> Status:
    gw = res.gateway
    with st.sidebar:
        st.header("Ollama")
        with st.container(key="ollama-status"):
            version = attempt(gw.version, "")
            if version:
                st.success(f"Ollama {version} reachable at {gw.host}")
                loaded: list[LoadedModel] = attempt(gw.ps, [])
                for lm in loaded:
                    st.caption(loaded_caption(lm))
                if not loaded:
                    st.caption("no model loaded in memory right now")
        listed: list[ModelInfo] = attempt(gw.list_models, []) if version else []
        offered = res.settings.offered_models
        installed = [m for m in listed if offered is None or m.name in offered]
        st.header("Models")
        with st.container(key="models"):
            for m in listed:
                caps: tuple[str, ...] = attempt(partial(gw.capabilities, m.name, m.digest), ())
                badges = " ".join(f":blue-badge[{c}]" for c in caps)
                outside = "" if m in installed else " — not in the lock, not offered"
                st.markdown(f"**{m.name}** `{m.digest[:12]}` {badges}{outside}")
        if version and not res.settings.allow_pull:
            st.caption("Pulling is off here: the models this page offers are the lock's (SNAP2PROD_ALLOW_PULL).")
        elif version:
            names = {m.name for m in listed}
            pullable = cat.pullable(res.catalog, list(names), version)
            if pullable:
                _pull(res, state, pullable)
            if res.catalog is not None:
                others = [n for n in res.catalog.names if n not in names]
                for why in cat.unrunnable(res.catalog, others, version).values():
                    st.caption(f"Not offered: {why}")
        if state.pull_report:
            st.caption(state.pull_report)
    return Status(version, installed)


def _pull(res: Resources, state: PageState, pullable: list[str]) -> None:
    name = st.selectbox("Pull a catalog model", pullable, key="pull_model") or pullable[0]
    if not st.button("Pull", key="pull"):
        return
    bar = st.progress(0.0, text=f"pulling {name}…")
    state.pull_events = []
    try:
        for event in res.gateway.pull(name, insecure=cat.pull_insecure(name)):
            state.pull_events.append(event)
            bar.progress(min(event.fraction, 1.0), text=f"{name}: {event.status}")
    except Snap2ProdError as err:
        state.pull_report = ""
        st.error(str(err))
        return
    bar.progress(1.0, text=f"{name}: done")
    state.pull_report = pull_summary(name, state.pull_events)
    st.rerun()


def pull_summary(name: str, events: list[Progress]) -> str:
    layers = {e.digest: e.total for e in events if e.digest}
    return f"pulled {name}: {len(layers)} layers, {sum(layers.values()) / 1e6:.1f} MB"
