"""History: every capture of the session, exports a person can keep, and clearing."""

from __future__ import annotations

import streamlit as st

from app.history import MAX_CAPTURES
from app.session import PageState


def render(state: PageState) -> None:
    history = state.history
    if not history.captures:
        st.caption("No captures yet in this session.")
        return
    if history.dropped:
        st.caption(
            f"The oldest {history.dropped} capture(s) were dropped: a session keeps its last {MAX_CAPTURES}. "
            "Export what you want to keep."
        )
    c1, c2, c3 = st.columns(3)
    c1.download_button("Export JSON", history.export_json(), "snap2prod-history.json", key="export_json")
    c2.download_button("Export zip", history.export_zip(), "snap2prod-history.zip", key="export_zip")
    if c3.button("Clear history", key="clear_history"):
        state.clear()
        st.rerun()
    for capture in reversed(history.captures):
        with st.container(key=f"capture-{capture.id}", border=True):
            a, b = st.columns([1, 4])
            if capture.thumbnail_jpeg:
                a.image(capture.thumbnail_jpeg)
            b.markdown(f"**#{capture.id}** · {capture.model} · {capture.source} · _{capture.prompt}_")
            b.markdown(capture.description or "")
            if capture.error:
                b.error(capture.error)
