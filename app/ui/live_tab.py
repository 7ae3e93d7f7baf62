"""Live: describe the newest frame every N seconds; frames that arrive meanwhile replace each other, none queue."""

from __future__ import annotations

import time
from functools import partial

import streamlit as st

from app import describe as uc
from app.live import LiveDescriber
from app.session import LiveWorker, PageState, Picture
from app.ui.resources import Resources, attempt


def worker(res: Resources, state: PageState) -> LiveWorker:
    """One background describer per session; the model and prompt are read when each frame starts."""

    def work(picture: Picture) -> tuple[str, uc.Metrics | None]:
        name, words = state.live_model, state.live_prompt
        with res.fair_use.turn(res.person):
            image = picture.prepare(uc.native_size(name, res.catalog))
            stream = uc.describe(res.gateway, image, name, words, max_tokens=res.settings.max_answer_tokens)
            text = stream.text()
        return text, uc.Metrics.of(stream.stats, image) if stream.stats else None

    if state.live is None:
        state.live = LiveDescriber(work, on_drop=res.telemetry.frame_dropped)
    return state.live


def render(res: Resources, state: PageState, model: str, prompt: str, picture: Picture | None) -> None:
    live_on = st.toggle("Live mode", key="live", disabled=not model)
    floor = res.settings.live_min_interval_s  # raised in clusters: every live page spends the shared GPU
    every = st.slider("Describe every N seconds", floor, 30, max(5, floor), key="live_every")
    st.caption(
        "Live mode describes the newest frame — from the host camera when one is configured, else each new "
        "browser capture. Frames that arrive while a description runs replace each other; none queue up."
    )
    state.live_model, state.live_prompt = model, prompt
    live = worker(res, state)
    if live_on:
        live.start()
        if picture is not None and picture.digest != state.described:
            state.described = picture.digest
            live.inbox.put(picture)
    else:
        live.stop(timeout_s=0.1)

    @st.fragment(run_every=every if live_on else None)
    def live_panel() -> None:
        if live_on and res.settings.camera:
            frame = attempt(partial(res.host_frame, 2.0), None)
            if frame is not None:
                live.inbox.put(Picture(f"host camera {res.settings.camera}", frame=frame))
        with st.container(key="live-result"):
            last = live.last
            if last is None:
                st.caption("waiting for the first frame…" if live_on else "live mode is off")
                return
            age = last.frame_age_s + (time.monotonic() - last.finished_at)
            if last.error:
                st.error(last.error)
            elif last.result is not None:
                st.markdown(last.result[0])
            st.caption(
                f"frame age {age:.1f} s · described {live.described} · replaced before use "
                f"{live.inbox.dropped} · {'describing…' if live.busy else 'idle'}"
            )

    live_panel()
