"""Settings: environment with the RECAP_ prefix, fail-fast validation, redacted printing."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, Settings, load_settings


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RECAP_MODEL", "RECAP_ADAPTER", "RECAP_REDIS_URL", "RECAP_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.model == "google/flan-t5-base"
    assert settings.adapter is None
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.store_url == "sqlite:///recap.db"


def test_environment_variables_with_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAP_MODEL", "/models/my-t5")
    monkeypatch.setenv("RECAP_NUM_BEAMS", "4")
    settings = load_settings()
    assert settings.model == "/models/my-t5"
    assert settings.num_beams == 4


def test_invalid_value_names_the_variable_and_what_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAP_REDIS_URL", "http://localhost:6379")
    monkeypatch.setenv("RECAP_DEVICE", "tpu")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "RECAP_REDIS_URL" in message and "redis://" in message
    assert "RECAP_DEVICE" in message and "'auto', 'cpu' or 'cuda'" in message


def test_secrets_are_redacted() -> None:
    settings = load_settings(slack_bot_token="xoxb-very-secret", discord_token="abc.def")
    shown = settings.redacted()
    assert "xoxb-very-secret" not in str(shown)
    assert "abc.def" not in str(shown)
    assert shown["RECAP_SLACK_BOT_TOKEN"] == "**********"
    assert "very-secret" not in repr(settings)
