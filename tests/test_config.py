"""Settings: defaults < file < environment < flags, and errors that name the key and file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_the_seed() -> None:
    settings = load_settings(env={})
    assert settings.index.chunk_size == 512
    assert settings.index.chunk_overlap == 51
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

    for section in dataclasses.fields(defaults):
        for field in dataclasses.fields(getattr(defaults, section.name)):
            assert field.name in example[section.name], f"{section.name}.{field.name}"
