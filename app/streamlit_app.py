"""The snap2prod page: the frame only — resources, the sidebar, the capture area and the tabs.

Each part lives in its own module of ``app.ui``; what the session remembers is one ``PageState``
(``app.session``); every decision lives in the plain ``app`` package. Widgets and containers carry keys
(``model``, ``description``, ``metrics``…) so people and tests find them. Every call that can fail shows
``st.error`` and the page carries on; the prompt, the chosen model and the history survive any error.
"""

from __future__ import annotations

import streamlit as st

from app.session import RESTARTED, PageState
from app.ui import capture, compare_tab, followup_tab, history_tab, live_tab, sidebar
from app.ui.resources import resources

st.set_page_config(page_title="snap2prod", page_icon="📷", layout="wide")
res = resources()
state = PageState.of(st.session_state)
state.claim(st.query_params, res.sessions)

status = sidebar.render(res, state)
st.title("snap2prod")
notice = st.empty()
choice = capture.render(res, state, status)
if state.restarted and len(state.history.captures) <= 1:  # said through the new session's first picture
    notice.info(RESTARTED, icon="🔄")

chat, compare, live, history = st.tabs(["Follow-up", "Compare", "Live", "History"])
with chat:
    followup_tab.render(res, state, status)
with compare:
    compare_tab.render(res, state, choice.prompt)
with live:
    live_tab.render(res, state, choice.model, choice.prompt, choice.picture)
with history:
    history_tab.render(state)
