"""The one loop that shows a streamed answer as it arrives."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streamlit.delta_generator import DeltaGenerator

CURSOR = " ▌"


def stream_into(slot: DeltaGenerator, pieces: Iterable[str], keep: Callable[[str], None] | None = None) -> str:
    """Show the text in ``slot`` (an ``st.empty()``) piece by piece with a cursor; return the whole text.

    Errors of the stream propagate: ``keep`` has been given the text so far (an answer that breaks off mid-way
    keeps what arrived), and the caller shows the error under it.
    """
    text = ""
    for piece in pieces:
        text += piece
        if keep is not None:
            keep(text)
        slot.markdown(text + CURSOR)
    slot.markdown(text)
    return text
