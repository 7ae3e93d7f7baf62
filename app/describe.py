"""Describe a picture and answer follow-up questions: the page's use cases, without any widget code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.catalog import Catalog
from app.errors import PromptTooLong
from app.gateway import ChatMessage, ChatStats, ChatStream, ModelInfo, OllamaGateway
from app.imaging import PreparedImage
from app.metrics import Telemetry
from app.settings import MAX_ANSWER_TOKENS

PRESETS: dict[str, str] = {
    "Describe this picture": "Describe this picture in a few sentences: who or what is in it, and what is happening.",
    "What text is visible?": "Read out any text visible in this picture, exactly as written. Say if there is none.",
    "Count the people": "How many people are in this picture? Answer with the number first, then one sentence.",
}
CUSTOM = "Custom…"
DEFAULT_NATIVE_SIZE = 672  # a safe long side for vision models the catalog does not know
# num_predict, the answer's cap, is Settings.max_answer_tokens (SNAP2PROD_MAX_ANSWER_TOKENS) on the page.
DEFAULT_OPTIONS: dict[str, float | int] = {"temperature": 0.2, "num_ctx": 4096, "num_predict": MAX_ANSWER_TOKENS}


MAX_PROMPT_CHARS = 2000
"""A prompt or follow-up question longer than this is refused in a sentence (the page's fields stop there too):
a page on a shared GPU must not take a book as a prompt."""


def check_prompt(text: str) -> None:
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptTooLong(len(text), MAX_PROMPT_CHARS)


def options(max_tokens: int = MAX_ANSWER_TOKENS, model_temperature: float | None = None) -> dict[str, float | int]:
    """The request's options with the answer capped at ``max_tokens`` (Settings.max_answer_tokens).

    A model whose Modelfile sets its own temperature keeps it (its authors chose it; the synthetic colour model
    sets 0); the page's 0.2 is for models that leave it to the caller.
    """
    temperature = DEFAULT_OPTIONS["temperature"] if model_temperature is None else model_temperature
    return {**DEFAULT_OPTIONS, "temperature": temperature, "num_predict": max_tokens}


@dataclass(frozen=True)
class Metrics:
    """What the page shows under a description, and what the session chart plots."""

    model: str
    ttft_ms: float
    total_ms: float
    tokens_per_s: float
    eval_count: int
    image_kb_before: float
    image_kb_after: float
    prepare_ms: float

    @classmethod
    def of(cls, stats: ChatStats, image: PreparedImage | None) -> Metrics:
        return cls(
            model=stats.model,
            ttft_ms=stats.ttft_s * 1000,
            total_ms=stats.total_s * 1000,
            tokens_per_s=stats.tokens_per_s,
            eval_count=stats.eval_count,
            image_kb_before=image.original_bytes / 1024 if image else 0.0,
            image_kb_after=image.sent_bytes / 1024 if image else 0.0,
            prepare_ms=image.ms if image else 0.0,
        )


def prompt_text(preset: str, custom: str) -> str:
    """The preset's wording, or the person's own when they chose "Custom…" (never empty)."""
    if preset == CUSTOM:
        return custom.strip() or PRESETS["Describe this picture"]
    return PRESETS.get(preset, PRESETS["Describe this picture"])


def native_size(model: str, catalog: Catalog | None) -> int:
    entry = catalog.find(model) if catalog else None
    return entry.image_size if entry is not None and entry.image_size else DEFAULT_NATIVE_SIZE


def vision_models(gateway: OllamaGateway, installed: Sequence[ModelInfo] | None = None) -> list[str]:
    """Installed models whose `/api/show` reports the vision capability (asked once per model digest)."""
    listed = gateway.list_models() if installed is None else installed
    return [m.name for m in listed if "vision" in gateway.capabilities(m.name, m.digest)]


def describe(
    gateway: OllamaGateway, image: PreparedImage, model: str, prompt: str, *, max_tokens: int = MAX_ANSWER_TOKENS
) -> ChatStream:
    check_prompt(prompt)
    if isinstance(gateway.observer, Telemetry):
        gateway.observer.image_prepared(model, image.original_bytes, image.sent_bytes)
    return gateway.chat_stream(
        model,
        [ChatMessage("user", prompt, images=(image.jpeg,))],
        options=options(max_tokens, gateway.model_temperature(model)),
        keep_alive="10m",
    )


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


def followup(
    gateway: OllamaGateway,
    model: str,
    *,
    image_jpeg: bytes | None,
    description: str,
    turns: Sequence[Turn],
    question: str,
    max_tokens: int = MAX_ANSWER_TOKENS,
) -> ChatStream:
    """Ask about the picture: a vision model sees it again; a chat model (e.g. Mistral) gets the description."""
    check_prompt(question)
    can_see = image_jpeg is not None and "vision" in gateway.capabilities(model)
    context = (
        "You answer questions about a picture."
        if can_see
        else f"You answer questions about a picture you cannot see. Its description:\n{description}"
    )
    messages = [ChatMessage("system", context)]
    for i, turn in enumerate(turns):
        images = (image_jpeg,) if can_see and image_jpeg is not None and i == 0 else ()
        messages.append(ChatMessage(turn.role, turn.content, images=images))
    images = (image_jpeg,) if can_see and image_jpeg is not None and not turns else ()
    messages.append(ChatMessage("user", question, images=images))
    return gateway.chat_stream(
        model, messages, options=options(max_tokens, gateway.model_temperature(model)), keep_alive="10m"
    )
