"""The one loop that shows a streamed answer as it arrives."""

from __future__ import annotations

from collections.abc import Iterable

from streamlit.delta_generator import DeltaGenerator

CURSOR = " ▌"


def stream_into(slot: DeltaGenerator, pieces: Iterable[str]) -> str:
    """Show the text in ``slot`` (an ``st.empty()``) piece by piece with a cursor; return the whole text.

    Errors of the stream propagate: the text shown so far stays, the caller shows the error under it.
    """
    text = ""
    for piece in pieces:
        text += piece
        slot.markdown(text + CURSOR)
    slot.markdown(text)
    return text
