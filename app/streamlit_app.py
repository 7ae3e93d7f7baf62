"""The snap2prod page. Widgets and layout only: every decision lives in the `app` package.

Keys on widgets and containers (``model``, ``description``, ``metrics``…) are how people and tests find them.
Every call that can fail shows ``st.error`` and the page carries on; the prompt and history live in
session state, so they survive any error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import streamlit as st

from app import describe as uc
from app.camera import Camera
from app.catalog import Catalog, load_catalog
from app.errors import Snap2ProdError
from app.gateway import LoadedModel, ModelInfo, OllamaGateway
from app.history import Capture, History
from app.imaging import PreparedImage, prepare
from app.live import LiveDescriber
from app.metrics import start as start_telemetry
from app.settings import Settings

T = TypeVar("T")


# --- resources, created once per server process ---------------------------------------------------


@st.cache_resource
def settings() -> Settings:
    return Settings()


telemetry = st.cache_resource(start_telemetry)  # /metrics on SNAP2PROD_METRICS_PORT, once per server process


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
def host_camera(source: str) -> Camera:
    return Camera(source).start()


def host_frame(timeout_s: float) -> bytes:
    """The newest frame of the configured host camera, as JPEG."""
    return host_camera(settings().camera).latest_frame(timeout_s=timeout_s).jpeg()


def attempt(fn: Callable[[], T], default: T) -> T:
    """Run one call; on a known error show it and return ``default`` so the page keeps rendering."""
    try:
        return fn()
    except Snap2ProdError as err:
        st.error(str(err))
        return default


# --- session state -------------------------------------------------------------------------------

st.set_page_config(page_title="snap2prod", page_icon="📷", layout="wide")
ss = st.session_state
ss.setdefault("history", History())
ss.setdefault("described", "")  # hash of the last frame described, so a rerun never describes it twice
ss.setdefault("compare_results", [])
history: History = ss["history"]
gw = gateway()


# --- sidebar: Ollama status and model manager ----------------------------------------------------

with st.sidebar:
    st.header("Ollama")
    with st.container(key="ollama-status"):
        version = attempt(gw.version, "")
        if version:
            st.success(f"Ollama {version} reachable at {gw.host}")
            loaded: list[LoadedModel] = attempt(gw.ps, [])
            for lm in loaded:
                st.caption(f"loaded: {lm.name} — {lm.size_vram / 2**30:.1f} GiB VRAM of {lm.size / 2**30:.1f} GiB")
            if not loaded:
                st.caption("no model loaded in memory right now")
    installed: list[ModelInfo] = attempt(gw.list_models, []) if version else []
    st.header("Models")
    for m in installed:
        caps: tuple[str, ...] = attempt(partial(gw.capabilities, m.name), ())
        badges = " ".join(f":blue-badge[{c}]" for c in caps)
        st.markdown(f"**{m.name}** `{m.digest[:12]}` {badges}")
    cat = catalog()
    installed_names = {m.name for m in installed}
    pullable = [e.name for e in cat.models if e.name not in installed_names and not e.modelfile] if cat else []
    if version and pullable:
        to_pull = st.selectbox("Pull a catalog model", pullable, key="pull_model")
        if st.button("Pull", key="pull"):
            bar = st.progress(0.0, text=f"pulling {to_pull}…")
            try:
                for event in gw.pull(to_pull):
                    frac = event.completed / event.total if event.total else 0.0
                    bar.progress(min(frac, 1.0), text=f"{to_pull}: {event.status}")
                bar.progress(1.0, text=f"{to_pull}: done")
                st.rerun()
            except Snap2ProdError as err:
                st.error(str(err))


# --- main: source, prompt, model -------------------------------------------------------------------

st.title("snap2prod")
# The last known list stays while Ollama is away, so the chosen model survives an outage.
vision: list[str] = attempt(partial(uc.vision_models, gw), []) if version else ss.get("vision_models", [])
ss["vision_models"] = vision
chat_capable = [m.name for m in installed]

left, right = st.columns([2, 3])
with left:
    sources = ["Browser camera", "Upload"] + (["Host camera"] if settings().camera else [])
    source = st.radio("Source", sources, key="source", horizontal=True)
    preset = st.selectbox("Prompt", [*uc.PRESETS, uc.CUSTOM], key="preset")
    custom = st.text_area("Your prompt", key="custom_prompt", disabled=preset != uc.CUSTOM, height=80)
    prompt = uc.prompt_text(preset, custom)
    if vision:
        model = st.selectbox("Vision model", vision, key="model") or ""
        if "synthetic" in model:
            st.caption("A synthetic model with random weights: the picture path is real, its words are not.")
    else:
        model = ""
        if version:
            st.info(
                "No vision model is installed, so pictures cannot be described yet. Pull one from the sidebar, "
                "or run `snap2prod models pull moondream` (needs the Ollama registry)."
            )

    raw: bytes | None = None
    seam = ss.pop("frame_seam", None)  # tests inject frames here; AppTest has no camera
    if isinstance(seam, bytes):
        raw, label = seam, "injected"
    elif source == "Browser camera":
        shot = st.camera_input("Take a picture", key="camera")
        raw, label = (shot.getvalue() if shot else None), "browser camera"
    elif source == "Upload":
        up = st.file_uploader("Upload a picture", type=["jpg", "jpeg", "png", "webp"], key="upload")
        raw, label = (up.getvalue() if up else None), "upload"
    else:
        label = f"host camera {settings().camera}"
        if st.button("Capture from host camera", key="host_capture"):
            raw = attempt(partial(host_frame, 5.0), None)
    again = st.button("Describe again", key="describe_again", disabled=history.latest is None and not raw)


def describe_now(data: bytes, source_label: str) -> None:
    """Prepare the picture, stream the description into this container, record it in the history."""
    try:
        image: PreparedImage = prepare(data, uc.native_size(model, catalog()))
    except Snap2ProdError as err:
        st.error(str(err))
        return
    capture = history.add(source=source_label, model=model, prompt=prompt, image_jpeg=image.jpeg)
    placeholder = st.empty()
    text = ""
    try:
        stream = uc.describe(gw, image, model, prompt)
        for piece in stream:
            text += piece
            placeholder.markdown(text + " ▌")
        if stream.stats is not None:
            capture.metrics = uc.Metrics.of(stream.stats, image)
    except Snap2ProdError as err:
        capture.error = str(err)
    capture.description = text
    placeholder.empty()
    show_capture(capture)


def capture_caption(capture: Capture) -> str:
    return f"capture #{capture.id} · {capture.model} · {capture.source}"


def show_capture(capture: Capture) -> None:
    st.markdown(capture.description or "_(the model returned no text)_")
    if capture.error:
        st.error(capture.error)
    st.caption(capture_caption(capture))


def show_metrics(capture: Capture) -> None:
    m = capture.metrics
    if m is None:
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("TTFT", f"{m.ttft_ms:.0f} ms")
    c2.metric("tok/s", f"{m.tokens_per_s:.1f}")
    c3.metric(
        "image KB sent", f"{m.image_kb_after:.0f}", delta=f"of {m.image_kb_before:.0f} KB taken", delta_color="off"
    )
    st.caption(f"model {m.model} · {m.eval_count} tokens in {m.total_ms / 1000:.1f} s · resize {m.prepare_ms:.0f} ms")
    rows = history.metrics_rows()
    if len(rows) > 1:
        st.line_chart(rows, x="capture", y=["TTFT ms", "tok/s"], height=180)


with right:
    digest = hashlib.sha256(raw).hexdigest() if raw else ""
    is_new = bool(raw) and digest != ss["described"] and not st.session_state.get("live")
    with st.container(key="description"):
        st.subheader("Description")
        if is_new and raw is not None and not model:
            st.warning("Got the picture, but there is no vision model to describe it (see the hint on the left).")
        elif is_new and raw is not None:
            ss["described"], ss["last_raw"] = digest, (raw, label)
            describe_now(raw, label)
        elif again and history.latest is not None and model:
            # From the picture as taken, so the bytes sent are the same as the first time (Ollama's cache hits).
            again_raw, again_label = ss.get("last_raw", (history.latest.image_jpeg, history.latest.source))
            describe_now(again_raw, f"again: {again_label}")
        elif history.latest is not None:
            show_capture(history.latest)
        else:
            st.caption("Take a picture or upload one; its description streams here.")
    with st.container(key="metrics"):
        if history.latest is not None:
            show_metrics(history.latest)


# --- follow-up, compare, live, history -------------------------------------------------------------

chat_tab, compare_tab, live_tab, history_tab = st.tabs(["Follow-up", "Compare", "Live", "History"])

with chat_tab:
    latest = history.latest
    if latest is None or not latest.description:
        st.caption("Describe a picture first; then ask about it here.")
    else:
        with st.container(key="chat"):
            for turn in latest.chat:
                st.chat_message(turn.role).markdown(turn.content)
        default_chat = next((n for n in chat_capable if n.startswith("mistral")), latest.model)
        options = sorted(set(chat_capable) | {latest.model})
        chat_model = st.selectbox("Answer with", options, index=options.index(default_chat), key="chat_model")
        question = st.chat_input("Ask about the picture", key="followup")
        if question:
            st.chat_message("user").markdown(question)
            with st.chat_message("assistant"):
                out = st.empty()
                answer = ""
                try:
                    stream = uc.followup(
                        gw,
                        chat_model,
                        image_jpeg=latest.image_jpeg,
                        description=latest.description,
                        turns=latest.chat,
                        question=question,
                    )
                    for piece in stream:
                        answer += piece
                        out.markdown(answer + " ▌")
                    out.markdown(answer)
                    latest.chat += [uc.Turn("user", question), uc.Turn("assistant", answer)]
                except Snap2ProdError as err:
                    st.error(str(err))

with compare_tab:
    latest = history.latest
    chosen = st.multiselect("Models to compare (2–3)", vision, default=vision[:2], max_selections=3, key="compare")
    run_compare = st.button("Compare on the latest picture", key="compare_run", disabled=latest is None or not chosen)
    if run_compare and latest is not None:
        ss["compare_results"] = []
        for col, name in zip(st.columns(len(chosen)), chosen, strict=True):
            with col, st.container(key=f"compare-{len(ss['compare_results'])}"):
                st.markdown(f"**{name}**")
                out = st.empty()
                text, metrics, error = "", None, ""
                try:
                    image = prepare(latest.image_jpeg, uc.native_size(name, catalog()))
                    stream = uc.describe(gw, image, name, latest.prompt)
                    for piece in stream:
                        text += piece
                        out.markdown(text + " ▌")
                    metrics = uc.Metrics.of(stream.stats, image) if stream.stats else None
                except Snap2ProdError as err:
                    error = str(err)
                ss["compare_results"].append((name, text, metrics, error))
        st.rerun()
    results = ss["compare_results"]
    if results:
        for col, (name, text, metrics, error) in zip(st.columns(len(results)), results, strict=True):
            with col:
                st.markdown(f"**{name}**")
                st.markdown(text)
                if error:
                    st.error(error)
                if metrics:
                    st.caption(f"TTFT {metrics.ttft_ms:.0f} ms · {metrics.tokens_per_s:.1f} tok/s")


def live_worker() -> LiveDescriber[bytes, tuple[str, uc.Metrics | None]]:
    """One background describer per session; the model and prompt are read when each frame starts."""

    def work(frame: bytes) -> tuple[str, uc.Metrics | None]:
        name, words = ss.get("live_model", model), ss.get("live_prompt", prompt)
        image = prepare(frame, uc.native_size(name, catalog()))
        stream = uc.describe(gw, image, name, words)
        text = stream.text()
        return text, uc.Metrics.of(stream.stats, image) if stream.stats else None

    if "live_worker" not in ss:
        ss["live_worker"] = LiveDescriber(work, on_drop=telemetry().frame_dropped)
    worker: LiveDescriber[bytes, tuple[str, uc.Metrics | None]] = ss["live_worker"]
    return worker


with live_tab:
    live_on = st.toggle("Live mode", key="live", disabled=not model)
    every = st.slider("Describe every N seconds", 1, 30, 5, key="live_every")
    st.caption(
        "Live mode describes the newest frame — from the host camera when one is configured, else each new "
        "browser capture. Frames that arrive while a description runs replace each other; none queue up."
    )
    ss["live_model"], ss["live_prompt"] = model, prompt
    worker = live_worker()
    if live_on:
        worker.start()
        if raw and digest != ss["described"]:
            ss["described"] = digest
            worker.inbox.put(raw)
    else:
        worker.stop(timeout_s=0.1)

    @st.fragment(run_every=every if live_on else None)
    def live_panel() -> None:
        if live_on and settings().camera:
            frame = attempt(partial(host_frame, 2.0), None)
            if frame:
                worker.inbox.put(frame)
        with st.container(key="live-result"):
            last = worker.last
            if last is None:
                st.caption("waiting for the first frame…" if live_on else "live mode is off")
                return
            age = last.frame_age_s + (time.monotonic() - last.finished_at)
            if last.error:
                st.error(last.error)
            elif last.result is not None:
                st.markdown(last.result[0])
            st.caption(
                f"frame age {age:.1f} s · described {worker.described} · replaced before use "
                f"{worker.inbox.dropped} · {'describing…' if worker.busy else 'idle'}"
            )

    live_panel()

with history_tab:
    if not history.captures:
        st.caption("No captures yet in this session.")
    else:
        c1, c2, c3 = st.columns(3)
        c1.download_button("Export JSON", history.export_json(), "snap2prod-history.json", key="export_json")
        c2.download_button("Export zip", history.export_zip(), "snap2prod-history.zip", key="export_zip")
        if c3.button("Clear history", key="clear_history"):
            history.clear()
            ss["compare_results"] = []
            ss.pop("last_raw", None)
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
