"""The top of the page: where the picture comes from, the prompt, the model; then the description and metrics."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

import streamlit as st

from app import catalog as cat
from app import describe as uc
from app.errors import ModelCannotSeeImages, ModelNotFound, Snap2ProdError
from app.history import Capture, History
from app.imaging import PreparedImage
from app.session import PageState, Picture
from app.ui.resources import Resources, attempt
from app.ui.sidebar import Status
from app.ui.stream import stream_into

NO_VISION_MODEL = (
    "No vision model is installed, so pictures cannot be described yet. Pull one from the sidebar, "
    "or run `snap2prod models pull moondream` (needs the Ollama registry)."
)
PICTURE_BUT_NO_MODEL = "Got the picture, but there is no vision model to describe it (see the hint on the left)."


@dataclass(frozen=True)
class Choice:
    """What the person chose in this run: the model ("" when none can see), the prompt, a new picture if any."""

    model: str
    prompt: str
    picture: Picture | None
    again: bool


def render(res: Resources, state: PageState, status: Status) -> Choice:
    if status.up:
        state.vision_models = attempt(partial(uc.vision_models, res.gateway, status.installed), state.vision_models)
    left, right = st.columns([2, 3])
    with left:
        choice = _inputs(res, state, status)
    with right:
        _description(res, state, status, choice)
    return choice


def _inputs(res: Resources, state: PageState, status: Status) -> Choice:
    camera = res.settings.camera
    sources = ["Browser camera", "Upload"] + (["Host camera"] if camera else [])
    source = st.radio("Source", sources, key="source", horizontal=True)
    preset = st.selectbox("Prompt", [*uc.PRESETS, uc.CUSTOM], key="preset")
    custom = st.text_area(
        "Your prompt", key="custom_prompt", disabled=preset != uc.CUSTOM, height=80, max_chars=uc.MAX_PROMPT_CHARS
    )
    prompt = uc.prompt_text(preset, custom)
    model = ""
    chosen = str(st.session_state.get("model") or "")
    # A chosen model that went away (deleted, or its tag now a model that cannot see) stays chosen: the next picture
    # says why it cannot be described, instead of going silently to another model.
    hidden = cat.unrunnable(res.catalog, state.vision_models, status.version)
    runnable = [m for m in state.vision_models if m not in hidden]
    options = runnable + ([chosen] if chosen and chosen not in runnable else [])
    for why in hidden.values():
        st.caption(f"Installed but not offered: {why}")
    if options:
        model = st.selectbox("Vision model", options, key="model") or ""
        if note := cat.model_note(model):
            st.caption(note)
    elif status.up:
        st.info(NO_VISION_MODEL)

    picture: Picture | None = None
    if source == "Browser camera":
        shot = st.camera_input("Take a picture", key="camera")
        picture = Picture("browser camera", data=shot.getvalue()) if shot else None
    elif source == "Upload":
        up = st.file_uploader("Upload a picture", type=["jpg", "jpeg", "png", "webp"], key="upload")
        picture = Picture("upload", data=up.getvalue()) if up else None
    elif st.button("Capture from host camera", key="host_capture"):
        frame = attempt(partial(res.host_frame, 5.0), None)
        picture = Picture(f"host camera {camera}", frame=frame) if frame else None
    none_yet = state.history.latest is None and picture is None
    again = st.button("Describe again", key="describe_again", disabled=none_yet)
    return Choice(model, prompt, picture, again)


def _description(res: Resources, state: PageState, status: Status, choice: Choice) -> None:
    picture = choice.picture
    is_new = picture is not None and picture.digest != state.described and not st.session_state.get("live")
    with st.container(key="description"):
        st.subheader("Description")
        if is_new and picture is not None and not choice.model:
            st.warning(PICTURE_BUT_NO_MODEL)
        elif is_new and picture is not None and (gone := _gone(state, status, choice.model)):
            state.described, state.last_picture = picture.digest, picture
            st.error(str(gone))
            _show_latest(state)
        elif is_new and picture is not None:
            state.described, state.last_picture = picture.digest, picture
            describe_now(res, state.history, picture, choice)
        elif choice.again and state.last_picture is not None and (gone := _gone(state, status, choice.model)):
            st.error(str(gone))
            _show_latest(state)
        elif choice.again and state.last_picture is not None and choice.model:
            # From the picture as taken, so every model and every try starts from the same original.
            describe_now(res, state.history, state.last_picture.again(), choice)
        else:
            _show_latest(state)
    with st.container(key="metrics"):
        if state.history.latest is not None:
            show_metrics(state.history)


def _show_latest(state: PageState) -> None:
    if state.history.latest is not None:
        show_capture(state.history.latest)
    else:
        st.caption("Take a picture or upload one; its description streams here.")


def _gone(state: PageState, status: Status, model: str) -> Snap2ProdError | None:
    """Why the chosen model cannot describe a picture any more (None when it can, or when the server did not answer
    in this run: then describing says so): it is not installed, or it is but no longer sees."""
    if not model or not status.up or model in state.vision_models:
        return None
    if model in {m.name for m in status.installed}:
        return ModelCannotSeeImages(model)
    return ModelNotFound(model)


def describe_now(res: Resources, history: History, picture: Picture, choice: Choice) -> None:
    """Prepare the picture, stream the description, record it; the final text replaces the streamed one. The
    person's fair-use turn is held from the decode to the last token; a refusal records nothing."""
    with ExitStack() as held:
        try:
            held.enter_context(res.fair_use.turn(res.person))
            image: PreparedImage = picture.prepare(uc.native_size(choice.model, res.catalog))
        except Snap2ProdError as err:
            st.error(str(err))
            return
        capture = history.add(source=picture.source, model=choice.model, prompt=choice.prompt, image_jpeg=image.jpeg)
        slot = st.empty()
        try:
            stream = uc.describe(
                res.gateway, image, choice.model, choice.prompt, max_tokens=res.settings.max_answer_tokens
            )
            capture.description = stream_into(slot, stream, keep=partial(setattr, capture, "description"))
            if stream.stats is not None:
                capture.metrics = uc.Metrics.of(stream.stats, image)
        except Snap2ProdError as err:
            capture.error = str(err)
    with slot.container():
        show_capture(capture)


def capture_caption(capture: Capture) -> str:
    return f"capture #{capture.id} · {capture.model} · {capture.source}"


def show_capture(capture: Capture) -> None:
    st.markdown(capture.description or "_(the model returned no text)_")
    if capture.error:
        st.error(capture.error)
    st.caption(capture_caption(capture))


def show_metrics(history: History) -> None:
    latest = history.latest
    m = latest.metrics if latest is not None else None
    if m is None:
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("TTFT", f"{m.ttft_ms:.0f} ms")
    c2.metric("tok/s", f"{m.tokens_per_s:.1f}")
    c3.metric(
        "image KB sent", f"{m.image_kb_after:.0f}", delta=f"of {m.image_kb_before:.0f} KB taken", delta_color="off"
    )
    st.caption(f"model {m.model} · {m.eval_count} tokens in {m.total_ms / 1000:.1f} s · resize {m.prepare_ms:.0f} ms")
    series = history.metrics_series()
    if len(series["TTFT ms"]) > 1:
        for unit, rows in series.items():  # one chart per unit: on a shared axis tok/s is a flat line at zero
            with st.container(key=f"chart-{unit.split()[0].lower().replace('/', '-')}"):
                st.line_chart(rows, x="capture", y=unit, height=160)
