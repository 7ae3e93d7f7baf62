"""Follow-up: questions about the latest picture, answered by a vision model or (from its description) a chat model."""

from __future__ import annotations

import streamlit as st

from app import catalog as cat
from app import describe as uc
from app.errors import Snap2ProdError
from app.session import PageState
from app.ui.resources import Resources
from app.ui.sidebar import Status
from app.ui.stream import stream_into


def render(res: Resources, state: PageState, status: Status) -> None:
    latest = state.history.latest
    if latest is None or not latest.description:
        st.caption("Describe a picture first; then ask about it here.")
        return
    with st.container(key="chat"):
        for turn in latest.chat:
            st.chat_message(turn.role).markdown(turn.content)
    installed = [m.name for m in status.installed]
    options = sorted(set(installed) | {latest.model})
    default = cat.preferred_chat_model(installed, latest.model, res.catalog)
    chat_model = st.selectbox("Answer with", options, index=options.index(default), key="chat_model") or default
    question = st.chat_input("Ask about the picture", key="followup", max_chars=uc.MAX_PROMPT_CHARS)
    if not question:
        return
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        try:
            with res.fair_use.turn(res.person):
                stream = uc.followup(
                    res.gateway,
                    chat_model,
                    image_jpeg=latest.image_jpeg,
                    description=latest.description,
                    turns=latest.chat,
                    question=question,
                    max_tokens=res.settings.max_answer_tokens,
                )
                answer = stream_into(st.empty(), stream)
            latest.chat += [uc.Turn("user", question), uc.Turn("assistant", answer)]
        except Snap2ProdError as err:
            st.error(str(err))
