"""Compare: the latest picture, as taken, described by two or three vision models side by side."""

from __future__ import annotations

from functools import partial

import streamlit as st

from app import describe as uc
from app.errors import Snap2ProdError
from app.session import CompareResult, PageState, Picture
from app.ui.resources import Resources
from app.ui.stream import stream_into


def render(res: Resources, state: PageState, prompt: str) -> None:
    vision = state.vision_models
    picture = state.last_picture
    chosen = st.multiselect("Models to compare (2–3)", vision, default=vision[:2], max_selections=3, key="compare")
    run = st.button("Compare on the latest picture", key="compare_run", disabled=picture is None or not chosen)
    if run and picture is not None:
        latest = state.history.latest
        words = latest.prompt if latest is not None else prompt  # the same question the picture was asked
        state.compare_results = []
        for i, (col, name) in enumerate(zip(st.columns(len(chosen)), chosen, strict=True)):
            with col, st.container(key=f"compare-{i}"):
                st.markdown(f"**{name}**")
                state.compare_results.append(_one(res, picture, name, words))
        st.rerun()
    results = state.compare_results
    for i, (col, result) in enumerate(zip(st.columns(len(results)) if results else [], results, strict=True)):
        with col, st.container(key=f"compare-{i}"):
            st.markdown(f"**{result.model}**")
            st.markdown(result.text)
            if result.error:
                st.error(result.error)
            if result.metrics:
                size = f" · sent {result.sent_size[0]}×{result.sent_size[1]}" if result.sent_size else ""
                st.caption(f"TTFT {result.metrics.ttft_ms:.0f} ms · {result.metrics.tokens_per_s:.1f} tok/s{size}")


def _one(res: Resources, picture: Picture, name: str, prompt: str) -> CompareResult:
    shown = [""]  # the text so far: an answer that breaks off keeps what arrived
    try:
        with res.fair_use.turn(res.person):
            image = picture.prepare(uc.native_size(name, res.catalog))
            stream = uc.describe(res.gateway, image, name, prompt, max_tokens=res.settings.max_answer_tokens)
            text = stream_into(st.empty(), stream, keep=partial(shown.__setitem__, 0))
        metrics = uc.Metrics.of(stream.stats, image) if stream.stats else None
        return CompareResult(name, text, metrics, "", (image.sent_width, image.sent_height))
    except Snap2ProdError as err:
        return CompareResult(name, shown[0], None, str(err))
