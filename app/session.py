"""What one person's page remembers between reruns, as one typed object (no streamlit here).

The page keeps a single ``PageState`` in Streamlit's session state; everything else on the page is derived
from it, the widgets' own values, and the Ollama server. ``Picture`` is a picture *as taken*: the bytes a
browser camera or an upload delivered, or a decoded host-camera frame. It is prepared for each model from
that original, so a second model (compare, describe again, live) never gets a picture compressed twice.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from app.camera import Frame
from app.describe import Metrics
from app.gateway import Progress
from app.history import History
from app.imaging import PreparedImage, prepare
from app.live import LiveDescriber

STATE_KEY = "page"
SESSION_PARAM = "session"
"""The page's URL names its session (``?session=…``), so a browser that reconnects to another app server (the
first one restarted, was rolled or scaled away) can say the session restarted instead of starting blank."""
RESTARTED = (
    "This page's session restarted: the app server that held it went away (a restart, a rollout or a "
    "scale-down), so the pictures and answers from before are not here. Take a picture to carry on."
)


@dataclass(frozen=True)
class Picture:
    """A picture as taken: ``data`` (JPEG, PNG or WebP bytes, untrusted) or a host-camera ``frame``."""

    source: str
    data: bytes = field(default=b"", repr=False)
    frame: Frame | None = field(default=None, repr=False)
    _prepared: dict[int, PreparedImage] = field(default_factory=dict, repr=False, compare=False)
    """Per native size: a rerun ("Describe again", a second Compare) need not decode and resize again."""

    def __post_init__(self) -> None:
        if self.frame is not None and self.data:
            raise ValueError("a Picture holds either bytes or a frame")
        # bytes may be empty (a 0-byte upload): preparing them says so in a sentence, as for any other bad file

    @property
    def digest(self) -> str:
        """Identifies the picture, so a rerun never describes the same one twice."""
        if self.frame is not None:
            return f"{self.source}#{self.frame.seq}@{self.frame.at}"
        return hashlib.sha256(self.data).hexdigest()

    def prepare(self, native_size: int) -> PreparedImage:
        """The JPEG to send to a model of this native size, made from the picture as taken (once per size)."""
        if native_size not in self._prepared:
            image = self.frame.prepare(native_size) if self.frame is not None else prepare(self.data, native_size)
            self._prepared[native_size] = image
        return self._prepared[native_size]

    def again(self) -> Picture:
        """The same picture for another try; what was prepared from it stays prepared."""
        return Picture(f"again: {self.source.removeprefix('again: ')}", self.data, self.frame, self._prepared)


@dataclass(frozen=True)
class CompareResult:
    """One column of the Compare tab."""

    model: str
    text: str
    metrics: Metrics | None
    error: str
    sent_size: tuple[int, int] | None = None


LiveWorker = LiveDescriber[Picture, tuple[str, Metrics | None]]


@dataclass
class PageState:
    """Everything the page keeps for one session."""

    history: History = field(default_factory=History)
    described: str = ""
    """Digest of the last picture described, so a rerun never describes it twice."""
    last_picture: Picture | None = None
    """The latest picture as taken: "Describe again" and Compare start from it."""
    compare_results: list[CompareResult] = field(default_factory=list)
    vision_models: list[str] = field(default_factory=list)
    """The last known vision models: kept while Ollama is away, so the chosen model survives an outage."""
    pull_events: list[Progress] = field(default_factory=list)
    """The progress stream of the last Pull, as the progress bar showed it."""
    pull_report: str = ""
    live: LiveWorker | None = None
    live_model: str = ""
    live_prompt: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    restarted: bool = False
    """The URL named an earlier session this server does not hold: the browser reconnected to a new server."""

    def claim(self, params: MutableMapping[str, str], held_here: set[str]) -> None:
        """Name this session in the page's URL. A URL naming a session this server never held (``held_here``: the
        ids of this server process) means the browser reconnected after its server went away; one this server
        held is a reload or a second tab."""
        named = params.get(SESSION_PARAM)
        if named != self.session_id:
            self.restarted = named is not None and named not in held_here and self.history.latest is None
            params[SESSION_PARAM] = self.session_id
            held_here.add(self.session_id)

    @classmethod
    def of(cls, session: MutableMapping[Any, Any]) -> PageState:
        """The session's state, created on its first run."""
        state = session.get(STATE_KEY)
        if not isinstance(state, cls):
            state = cls()
            session[STATE_KEY] = state
        return state

    def clear(self) -> None:
        """Forget the captures and what came from them (the chosen model and prompt are widgets: they stay)."""
        self.history.clear()
        self.compare_results = []
        self.last_picture = None
