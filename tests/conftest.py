"""Shared fixtures. Every test gets its own data, config and cache directories, so no
test reads the developer's own config or index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def exported_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One models dir for the whole run: the ONNX export of the bundled model is made once
    (by the first test that needs it), not once per test data dir. Fixtures wider than a
    test (a model loaded once per module) see a data dir of the run's own, never the
    developer's."""
    data = tmp_path_factory.mktemp("session-data")
    (data / "models").mkdir()
    before = os.environ.get("DOCSIGHT_DATA_DIR")
    os.environ["DOCSIGHT_DATA_DIR"] = str(data)
    yield data / "models"
    if before is None:
        os.environ.pop("DOCSIGHT_DATA_DIR", None)
    else:
        os.environ["DOCSIGHT_DATA_DIR"] = before


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    exported_models: Path,
) -> Path:
    home = tmp_path_factory.mktemp("user")  # beside tmp_path: a test may scan all of that
    (home / "data").mkdir(parents=True)
    (home / "data" / "models").symlink_to(exported_models, target_is_directory=True)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.setenv("DOCSIGHT_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("DOCSIGHT_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for key in list(os.environ):
        if key.startswith("DOCSIGHT_") and key not in ("DOCSIGHT_DATA_DIR", "DOCSIGHT_CONFIG"):
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A small folder of notes: a markdown runbook, a text file and a secret never indexed."""
    root = tmp_path / "notes"
    (root / "ops").mkdir(parents=True)
    (root / "ops" / "keys.md").write_text(
        "# Keys\n\nRotate the signing key every 90 days with keyctl rotate.\n"
    )
    (root / "garden.txt").write_text("Water the tomatoes every evening in July.\n")
    (root / ".env").write_text("SECRET=1\n")
    return root
