"""golive's settings file: dotenv values that fill what the environment leaves unset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from golive.settings import apply_settings, settings_file


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("GOLIVE_ENV_FILE", "GOLIVE_PROMETHEUS_URL", "GOLIVE_X", "PREFECT_API_URL"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_the_project_file_is_the_default_and_golive_env_file_overrides_it(clean_env: pytest.MonkeyPatch) -> None:
    """Without GOLIVE_ENV_FILE golive reads <project>/.golive/env; with it, the file it names."""
    assert settings_file(Path("/p")) == Path("/p/.golive/env")
    clean_env.setenv("GOLIVE_ENV_FILE", "/elsewhere/golive.env")
    assert settings_file(Path("/p")) == Path("/elsewhere/golive.env")


def test_values_fill_only_what_the_environment_leaves_unset(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A value from the file applies when the variable is unset; an exported one wins."""
    (tmp_path / ".golive").mkdir()
    (tmp_path / ".golive" / "env").write_text(
        "# the lab's\nGOLIVE_PROMETHEUS_URL=http://127.0.0.1:9\nGOLIVE_X='quoted value'\n"
    )
    clean_env.setenv("GOLIVE_PROMETHEUS_URL", "http://mine:9090")
    settings = apply_settings(tmp_path)
    assert settings.applied == ("GOLIVE_X",)
    assert os.environ["GOLIVE_X"] == "quoted value"
    assert os.environ["GOLIVE_PROMETHEUS_URL"] == "http://mine:9090"


def test_a_prefect_server_that_does_not_answer_is_not_used(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PREFECT_API_URL from the file applies only once its server answers /api/health, within the wait."""
    path = tmp_path / "golive.env"
    path.write_text("PREFECT_API_URL=http://127.0.0.1:9/api\n")
    clean_env.setenv("GOLIVE_ENV_FILE", str(path))
    settings = apply_settings(tmp_path, wait_s=0)
    assert settings.prefect_unanswered == "http://127.0.0.1:9/api"
    assert "PREFECT_API_URL" not in os.environ
    assert apply_settings(tmp_path, prefect=False).prefect_unanswered is None
    assert "PREFECT_API_URL" not in os.environ


def test_no_file_changes_nothing(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A project without a settings file reads nothing."""
    assert apply_settings(tmp_path).path is None
