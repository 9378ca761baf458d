"""Settings: defaults < file < environment < flags, and errors that name the key and file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_the_seed_where_no_measurement_moved_them() -> None:
    settings = load_settings(env={})
    # the seed's 512/51 ranked answers lower on both bench corpora (bench/retrieval.py)
    assert (settings.index.chunk_size, settings.index.chunk_overlap) == (768, 77)
    assert settings.retrieval.top_k == 5
    assert (settings.llm.temperature, settings.llm.top_p) == (0.2, 0.95)
    assert settings.llm.vllm.seed == 415
    assert settings.llm.vllm.max_model_len == 1000


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[retrieval]\ntop_k = 7\n[llm]\nbase_url = "http://a"\n[llm.vllm]\nseed = 1\n'
    )
    env = {"DOCSIGHT_LLM__BASE_URL": "http://b", "DOCSIGHT_LLM__VLLM__MAX_MODEL_LEN": "4096"}
    settings = load_settings(config, env=env, overrides={"retrieval.top_k": 9})
    assert settings.retrieval.top_k == 9
    assert settings.llm.base_url == "http://b"
    assert settings.llm.vllm.max_model_len == 4096
    assert settings.llm.vllm.seed == 1


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[index]\nchunk_sise = 100\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    assert "index.chunk_sise" in str(error.value)
    assert str(config) in str(error.value)


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[retrieval]\ntop_k = "five"\n')
    with pytest.raises(ConfigError, match=r"retrieval\.top_k.*integer"):
        load_settings(config, env={})


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[index\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    assert str(config) in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="DOCSIGHT_STORE__HYBRID"):
        load_settings(env={"DOCSIGHT_STORE__HYBRID": "maybe"})


def test_keys_table_from_file_and_env(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[tui.keys]\nquit = "ctrl+x"\n')
    settings = load_settings(config, env={"DOCSIGHT_TUI__KEYS__HELP": "f1"})
    assert settings.tui.keys == {"quit": "ctrl+x", "help": "f1"}


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_example_config_lists_every_key_with_its_default() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    defaults = Settings()
    for section, table in example.items():
        section_obj = getattr(defaults, section)
        for key, value in table.items():
            if isinstance(value, dict) and key != "keys":
                for sub_key, sub_value in value.items():
                    assert getattr(getattr(section_obj, key), sub_key) == sub_value, sub_key
            else:
                assert getattr(section_obj, key) == value, f"{section}.{key}"
    # and nothing is missing from the example
    loaded = load_settings(ROOT / "config.example.toml", env={})
    assert loaded == defaults
    import dataclasses

    for section_field in dataclasses.fields(defaults):
        for field in dataclasses.fields(getattr(defaults, section_field.name)):
            assert field.name in example[section_field.name], f"{section_field.name}.{field.name}"


@pytest.mark.parametrize(
    ("body", "key", "allowed"),
    [
        ('[index]\nbm25_analyzer = "klingon"\n', "index.bm25_analyzer", '"english"'),
        ("[index]\nchunk_size = 0\n", "index.chunk_size", "between 100 and 8000"),
        ("[index]\nchunk_overlap = 800\n", "index.chunk_overlap", "less than index.chunk_size"),
        ('[index]\nexclude = ["notes/", "!"]\n', "index.exclude", "gitignore does not allow"),
        ("[index]\nmax_file_mb = -1\n", "index.max_file_mb", "more than 0"),
        ("[retrieval]\ntop_k = 0\n", "retrieval.top_k", "between 1 and 16384"),
        ("[retrieval]\ntop_k = 100000\n", "retrieval.top_k", "between 1 and 16384"),
        ('[embedding]\ndevice = "gpu"\n', "embedding.device", '"cuda"'),
        ('[embedding]\nbackend = "tensorrt"\n', "embedding.backend", '"onnx"'),
        ('[retrieval]\nrerank = "cohere"\n', "retrieval.rerank", '"remote"'),
        ("[embedding]\nbatch_size = 0\n", "embedding.batch_size", "between 1 and 4096"),
        ('[llm]\nbackend = "ollama"\n', "llm.backend", '"llamacpp"'),
        ("[llm]\ntop_p = 0\n", "llm.top_p", "more than 0 and at most 1"),
        ("[llm]\ntemperature = nan\n", "llm.temperature", "between 0 and 2"),
        (
            "[llm.vllm]\ngpu_memory_utilization = 1.5\n",
            "llm.vllm.gpu_memory_utilization",
            "at most 1",
        ),
        ("[watch]\ndebounce_ms = -5\n", "watch.debounce_ms", "between 0 and 60000"),
    ],
)
def test_values_out_of_range_name_the_key_the_file_and_what_is_allowed(
    tmp_path: Path, body: str, key: str, allowed: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    message = str(error.value)
    assert message.startswith(f"{config}: '{key}' ") and allowed in message
    assert "\n" not in message and error.value.exit_code == 2


def test_a_range_is_checked_whatever_the_value_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment DOCSIGHT_RETRIEVAL__TOP_K.*16384"):
        load_settings(env={"DOCSIGHT_RETRIEVAL__TOP_K": "100000"})
    with pytest.raises(ConfigError, match=r"command line: 'index.chunk_size'"):
        load_settings(env={}, overrides={"index.chunk_size": 7})
    config = tmp_path / "config.toml"
    config.write_text("[index]\nchunk_size = 200\n")  # the rule between two keys names where
    with pytest.raises(ConfigError, match=r"^environment DOCSIGHT_INDEX__CHUNK_OVERLAP: "):
        load_settings(config, env={"DOCSIGHT_INDEX__CHUNK_OVERLAP": "200"})
    edge = load_settings(env={"DOCSIGHT_RETRIEVAL__TOP_K": "16384", "DOCSIGHT_LLM__TOP_P": "1"})
    assert (edge.retrieval.top_k, edge.llm.top_p) == (16384, 1.0)


def test_a_new_setting_declares_its_range_where_it_is_defined() -> None:
    """The mechanism other sections use: `bounded` metadata and `problems()`."""
    import dataclasses

    from engine import config
    from engine.config import Bounds, bounded

    @dataclasses.dataclass
    class RerankSettings:
        candidates: int = bounded(20, 1, 200)
        keep: int = bounded(5, 1, 200)

        def problems(self) -> Iterator[tuple[str, str]]:
            if self.keep > self.candidates:
                yield "keep", "must be at most rerank.candidates"

    bounds = dataclasses.fields(RerankSettings)[0].metadata["bounds"]
    assert isinstance(bounds, Bounds) and bounds.describe() == "between 1 and 200"
    section = RerankSettings()
    origins: dict[str, str] = {}  # what load_settings does with each value read
    with pytest.raises(ConfigError, match=r"^f.toml: 'candidates' must be between 1 and 200"):
        config._set_dotted(section, "candidates", 500, "f.toml", origins)
    config._set_dotted(section, "candidates", 3, "f.toml", origins)
    with pytest.raises(ConfigError, match=r"^default settings: 'keep' must be at most"):
        config._check_problems(section, "", origins)


def test_the_configuration_reference_lists_what_each_key_allows() -> None:
    import dataclasses
    import typing

    from engine.config import Bounds

    reference = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    rows: dict[tuple[str, str], str] = {}  # (section, key) -> allowed; keys repeat
    sections: list[str] = []
    for line in reference.splitlines():
        if line.startswith("## "):
            sections = re.findall(r"\[([\w.]+)\]", line)  # "## [watch] and [tui]"
        elif line.startswith("| ") and line.count("|") == 5:
            for name in sections:
                rows[(name, line.split("|")[1].strip())] = line.split("|")[3].strip()

    def allowed(section: object, prefix: str) -> Iterator[tuple[str, str]]:
        hints = typing.get_type_hints(type(section))
        for field in dataclasses.fields(section):  # type: ignore[arg-type]
            value = getattr(section, field.name)
            if dataclasses.is_dataclass(value):
                yield from allowed(value, f"{field.name}.")
            elif isinstance(field.metadata.get("bounds"), Bounds):
                yield prefix + field.name, field.metadata["bounds"].describe()
            elif typing.get_origin(hints[field.name]) is typing.Literal:
                yield prefix + field.name, ", ".join(typing.get_args(hints[field.name]))

    checked = 0
    for section in dataclasses.fields(Settings):
        for key, words in allowed(getattr(Settings(), section.name), ""):
            row = rows.get(
                (section.name, key), rows.get((section.name, f"{section.name}.{key}"), "")
            )
            assert row.startswith(words), (section.name, key, words)
            checked += 1
    assert checked >= 20
