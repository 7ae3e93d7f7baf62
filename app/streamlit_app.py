"""The snap2prod page. Widgets and layout only: every decision lives in the `app` package."""

from __future__ import annotations

import streamlit as st

from app.errors import Snap2ProdError
from app.gateway import OllamaGateway
from app.settings import Settings


@st.cache_resource
def gateway() -> OllamaGateway:
    settings = Settings()
    return OllamaGateway(
        settings.ollama_host,
        connect_timeout_s=settings.connect_timeout_s,
        first_token_timeout_s=settings.first_token_timeout_s,
    )


st.set_page_config(page_title="snap2prod", page_icon="📷", layout="wide")
st.title("snap2prod")
gw = gateway()
with st.container(key="ollama-status"):
    try:
        version = gw.version()
        models = gw.list_models()
    except Snap2ProdError as err:
        st.error(str(err))
    else:
        st.success(f"Ollama {version} reachable at {gw.host}")
        if models:
            st.dataframe(
                [{"model": m.name, "digest": m.digest[:12], "size MB": round(m.size / 1e6)} for m in models],
                key="models",
            )
        else:
            st.warning("No models installed. Run `make demo` again, or `snap2prod models pull moondream`.")
