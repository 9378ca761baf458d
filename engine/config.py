"""Settings: defaults < config file < environment < command-line flags.

One typed object, loaded once at the entry point. Every key has a comment here and in
`config.example.toml`. Errors name the key and where the bad value came from.

Every value is checked when it is read, so nothing wrong reaches Milvus, the model or the
index (a `--rebuild` deletes nothing before its settings are known to be good):
- the annotation gives the type; a `Literal[...]` annotation is the set of allowed values;
- `bounded(default, low, high)` declares a numeric range (`above=True`: `low` itself is
  not allowed), kept in the field's metadata;
- a section may define `problems(self)`, yielding (field, problem) for what a type and a
  range cannot say (a rule between two fields, a pattern that must compile); the error
  names the field and where its value came from.
A new setting declares its range where it is defined, for example
`rerank_candidates: int = bounded(20, 1, 200)`, and is checked like every other.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pathspec
import platformdirs

from engine.errors import ConfigError

ENV_PREFIX = "DOCSIGHT_"
MAX_TOP_K = 16384  # the most hits Milvus returns for one search


@dataclass(frozen=True)
class Bounds:
    """The range a numeric setting must lie in (None: open on that side)."""

    low: float | None = None
    high: float | None = None
    above: bool = False  # `low` itself is excluded

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """The range in words: "between 1 and 16384", "more than 0 and at most 1"."""
        if self.low is not None and self.high is not None and not self.above:
            return f"between {_number(self.low)} and {_number(self.high)}"
        words = []
        if self.low is not None:
            words.append(f"{'more than' if self.above else 'at least'} {_number(self.low)}")
        if self.high is not None:
            words.append(f"at most {_number(self.high)}")
        return " and ".join(words)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def bounded(
    default: Any, low: float | None = None, high: float | None = None, *, above: bool = False
) -> Any:
    """A settings field whose value must lie in [low, high] (`above`: low excluded)."""
    return field(default=default, metadata={"bounds": Bounds(low, high, above)})


@dataclass
class IndexSettings:
    include: list[str] = field(default_factory=list)
    """Glob patterns (gitignore syntax) a file must match to be indexed; empty = all."""
    exclude: list[str] = field(default_factory=list)
    """Glob patterns (gitignore syntax) never indexed, on top of ignore files."""
    max_file_mb: float = bounded(10.0, 0, 1024, above=True)
    """Files larger than this are skipped (and listed with the reason)."""
    chunk_size: int = bounded(768, 100, 8000)
    """Target chunk length in characters (the seed's 512 ranked the answering chunk lower on
    both bench corpora: bench/retrieval.py --chunk-size). At most 8000: a chunk's text must
    fit Milvus' 65,535-byte text field in any script."""
    chunk_overlap: int = bounded(77, 0, 4000)
    """Characters shared by neighbouring pieces when a long block must be cut."""
    bm25_analyzer: Literal["standard", "english", "chinese"] = "standard"
    """Milvus analyzer for the BM25 full-text field."""

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.chunk_overlap >= self.chunk_size:
            yield "chunk_overlap", f"must be less than index.chunk_size ({self.chunk_size})"
        for name in ("include", "exclude"):
            for pattern in getattr(self, name):
                try:
                    pathspec.GitIgnoreSpec.from_lines([pattern])
                except ValueError as error:  # pathspec's pattern errors are ValueErrors
                    yield name, f"holds a pattern gitignore does not allow: {error}"


@dataclass
class EmbeddingSettings:
    model: str = "auto"
    """"auto" (bge-large-en-v1.5 on CUDA, bundled all-MiniLM-L6-v2 otherwise), a
    sentence-transformers model name, or a local path."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: Literal["auto", "torch", "onnx"] = "auto"
    """How a local model runs: "torch", "onnx" (int8, exported once from the model's own
    weights, no torch at query time) or "auto" (onnx on a CPU when the model allows it)."""
    onnx_dir: str = ""
    """Where exported ONNX models are kept; empty = `models/` in the data dir."""
    batch_size: int = bounded(32, 1, 4096)
    """Chunks per encoder call."""
    base_url: str = ""
    """An OpenAI-compatible /v1/embeddings server to use instead of a local model."""
    cache_max_mb: int = bounded(256, 0, 1_000_000)
    """Size limit of the embedding cache; unused entries past it are dropped, oldest first."""


@dataclass
class StoreSettings:
    uri: str = ""
    """Empty: a Milvus Lite file in the data dir. Else a Milvus server, http(s)://host:port."""
    token_env: str = "MILVUS_TOKEN"
    """Environment variable holding the Milvus server token (never stored in the file)."""
    hybrid: bool = True
    """Dense + BM25 search fused with RRF; false = dense only."""


@dataclass
class RetrievalSettings:
    top_k: int = bounded(5, 1, MAX_TOP_K)
    """Chunks retrieved per search."""
    rerank: Literal["units", "remote", "none"] = "units"
    """How the fused candidates are ranked again: "units" (best sentence by the engine's
    own encoder, plus words and names matched), "remote" (a cross-encoder at rerank_url)
    or "none" (the fused order)."""
    candidates: int = bounded(40, 1, 1000)
    """Candidates of the hybrid search that rescoring ranks again."""
    rerank_url: str = ""
    """An OpenAI-style server with /v1/rerank (vLLM serving a cross-encoder) for "remote"."""
    rerank_model: str = ""
    """The cross-encoder's name on that server."""
    min_relevance: float = bounded(0.4, 0, 1)
    """Below this relevance (0-1) of the best passage, an answer says the folder does not
    seem to hold one, shows the nearest passages and generates nothing."""


@dataclass
class VLLMSettings:
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "bfloat16"
    gpu_memory_utilization: float = bounded(0.5, 0, 1, above=True)
    max_model_len: int = bounded(1000, 128, 1 << 20)
    enforce_eager: bool = True
    seed: int = bounded(415, 0, 2**32 - 1)
    max_num_batched_tokens: int = bounded(3000, 128, 1 << 20)


@dataclass
class LLMSettings:
    backend: Literal["auto", "vllm", "llamacpp", "openai"] = "auto"
    """"openai" is any compatible server at base_url."""
    base_url: str = ""
    """An OpenAI-compatible server to use; empty = docsight starts and manages one."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key for base_url."""
    model: str = ""
    """Model name; empty = the backend's default (Llama 3.1 8B Instruct on vLLM)."""
    gguf: str = ""
    """GGUF file for llama.cpp; empty = the bundled SmolLM2-135M-Instruct."""
    context_length: int = bounded(2048, 256, 1 << 20)
    """Context window used when the server does not report one."""
    temperature: float = bounded(0.2, 0, 2)
    top_p: float = bounded(0.95, 0, 1, above=True)
    max_tokens: int = bounded(512, 1, 1 << 20)
    prompt_order: Literal["best_last", "best_first"] = "best_last"
    """Where the best passage goes in the prompt: "best_last" (nearest the question, as
    the seed article does) or "best_first"."""
    idle_stop_minutes: float = bounded(30.0, 0, 525_600)
    """A managed server with no requests for this long is stopped."""
    vllm: VLLMSettings = field(default_factory=VLLMSettings)


@dataclass
class WatchSettings:
    debounce_ms: int = bounded(300, 0, 60_000)
    """Quiet time after the last file event before a batched sync runs."""


@dataclass
class TUISettings:
    theme: str = "textual-dark"
    keys: dict[str, str] = field(default_factory=dict)
    """Action name = key, overriding the default bindings."""


@dataclass
class Settings:
    index: IndexSettings = field(default_factory=IndexSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    tui: TUISettings = field(default_factory=TUISettings)


def default_data_dir() -> Path:
    env = os.environ.get("DOCSIGHT_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("docsight"))


def default_config_path() -> Path:
    env = os.environ.get("DOCSIGHT_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("docsight")) / "config.toml"


def load_settings(
    config_path: Path | None = None,
    env: typing.Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the settings; `overrides` maps dotted keys ("retrieval.top_k") to flag values."""
    settings = Settings()
    origins: dict[str, str] = {}  # dotted key -> where its value came from
    path = config_path or default_config_path()
    if config_path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.is_file():
        for key, value in _read_toml(path).items():
            _set_dotted(settings, key, value, str(path), origins)
    env = os.environ if env is None else env
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX) and "__" in key:
            dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
            _set_dotted(settings, dotted, _parse_env_value(raw), f"environment {key}", origins)
    for dotted, value in (overrides or {}).items():
        _set_dotted(settings, dotted, value, "command line", origins)
    _check_problems(settings, "", origins)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_dotted(
    obj: Any, dotted: str, value: Any, origin: str, origins: dict[str, str], prefix: str = ""
) -> None:
    """Set `dotted` (relative to `obj`) to `value`; a table value fills a whole section."""
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    full_key = f"{prefix}{head}"
    if head not in fields:
        raise ConfigError(f"{origin}: unknown setting '{full_key}'")
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current):
        if rest:
            _set_dotted(current, rest, value, origin, origins, f"{full_key}.")
            return
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: '{full_key}' must be a table")
        for sub_key, sub_value in value.items():
            _set_dotted(current, sub_key, sub_value, origin, origins, f"{full_key}.")
        return
    if rest and isinstance(current, dict):
        current[rest] = str(value)
        return
    if rest:
        raise ConfigError(f"{origin}: unknown setting '{prefix}{dotted}'")
    coerced = _coerce(value, _field_type(type(obj), head), full_key, origin)
    bounds = fields[head].metadata.get("bounds")
    if isinstance(bounds, Bounds) and not bounds.allows(coerced):
        raise ConfigError(f"{origin}: '{full_key}' must be {bounds.describe()}, got {value!r}")
    setattr(obj, head, coerced)
    origins[full_key] = origin


def _check_problems(section: Any, prefix: str, origins: dict[str, str]) -> None:
    """Run every section's `problems()`, nested sections' too."""
    for item in dataclasses.fields(section):
        value = getattr(section, item.name)
        if dataclasses.is_dataclass(value):
            _check_problems(value, f"{prefix}{item.name}.", origins)
    for name, problem in getattr(section, "problems", lambda: ())():
        key = f"{prefix}{name}"
        raise ConfigError(f"{origins.get(key, 'default settings')}: '{key}' {problem}")


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _coerce(value: Any, expected: Any, key: str, origin: str) -> Any:
    origin_type = typing.get_origin(expected)
    if origin_type is list:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif origin_type is dict:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
    elif expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin_type is Literal:
        if value in typing.get_args(expected) and isinstance(value, str):
            return value
    elif isinstance(expected, types.UnionType):
        return value
    raise ConfigError(f"{origin}: '{key}' should be {_describe(expected)}, got {value!r}")


def _describe(expected: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if typing.get_origin(expected) is list:
        return "a list of strings"
    if typing.get_origin(expected) is dict:
        return "a table of strings"
    if typing.get_origin(expected) is Literal:
        return "one of " + ", ".join(f'"{choice}"' for choice in typing.get_args(expected))
    return names.get(expected, str(expected))
