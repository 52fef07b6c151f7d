"""The `recap` command: clear messages for bad input, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recap.cli import main

CHAT = "Alice: Lunch at noon?\nBob: Sure, see you at the cafe.\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    path = tmp_path / "chat.txt"
    path.write_text(CHAT)
    return path


def test_format_prints_exactly_what_the_model_sees(chat_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["format", str(chat_file)], capsys)
    assert code == 0
    assert out == "#Person1#: Lunch at noon?\n#Person2#: Sure, see you at the cafe.\n"


def test_summarize_prints_a_summary(chat_file: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["summarize", str(chat_file), "--model", str(tiny_model)], capsys)
    assert code == 0, err
    assert out.endswith("\n") and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "argv_extra", "expected"),
    [
        ("", [], "empty"),
        ("\x00\x01\x02 binary", [], "not"),
        (CHAT, ["--format", "xml"], "xml"),
        ('{"channel": {"id": "1"}, "posts": []}', [], "not a conversation"),
        ('[{"type": "message"}]', ["--format", "slack"], "slack"),
    ],
    ids=["empty", "not-a-conversation", "unknown-format-name", "unknown-export-format", "malformed-slack-export"],
)
def test_bad_input_gives_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                         argv_extra: list[str], expected: str) -> None:
    path = tmp_path / "input.txt"
    path.write_text(content)
    code, _, err = run(["format", str(path), *argv_extra], capsys)
    assert code == 2
    assert "Error:" in err and expected in err.lower() and "Traceback" not in err


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["format", "no-such-file.txt"], capsys)
    assert code == 2 and "No such file" in err


def test_missing_model_names_the_setting_and_the_path(chat_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["summarize", str(chat_file), "--model", "/nonexistent/flan-t5"], capsys)
    assert code == 2
    assert "RECAP_MODEL" in err and "/nonexistent/flan-t5" in err and "Traceback" not in err


def test_redis_down_via_queue(chat_file: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_REDIS_URL", "redis://127.0.0.1:1/0")
    code, _, err = run(["summarize", str(chat_file), "--via-queue"], capsys)
    assert code == 2 and "Redis" in err


def test_invalid_setting_fails_fast(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_MAX_NEW_TOKENS", "lots")
    code, _, err = run(["config"], capsys)
    assert code == 2 and "RECAP_MAX_NEW_TOKENS" in err


def test_config_redacts_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_SLACK_BOT_TOKEN", "xoxb-top-secret")
    code, out, _ = run(["config"], capsys)
    assert code == 0
    assert "RECAP_SLACK_BOT_TOKEN=**********" in out and "top-secret" not in out


def test_doctor_says_what_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("RECAP_STORE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    code, out, err = run(["doctor", "--model", "/nonexistent/model"], capsys)
    text = out + err
    assert code == 1
    assert "RECAP_REDIS_URL" in text and "RECAP_MODEL" in text and "store: tables ready" in text


USAGE_ERRORS = {
    "no-arguments": ([], "Usage: recap"),
    "summarize-without-file": (["summarize"], "Missing argument"),
    "unknown-option": (["--bogus"], "No such option"),
    "unknown-command": (["bogus"], "No such command"),
    "demo-port-not-a-number": (["demo", "--port", "abc"], "--port"),
    "invite-url-without-application-id": (["discord", "invite-url"], "RECAP_DISCORD_APPLICATION_ID"),
}


@pytest.mark.parametrize("argv,expected", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_errors_through_the_real_entry_point(argv: list[str], expected: str, tmp_path: Path) -> None:
    """`python -m recap` runs `recap.cli.main`, the console script's entry point."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECAP_DISCORD")}
    done = subprocess.run([sys.executable, "-m", "recap", *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=dict(env, COLUMNS="200"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert expected in done.stdout + done.stderr


def test_via_queue_without_a_worker_times_out_with_a_message(chat_file: Path, redis_conn, settings,  # noqa: ANN001
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("RECAP_STORE_URL", settings.store_url)
    code, _, err = run(["summarize", str(chat_file), "--via-queue", "--timeout", "1"], capsys)
    assert code == 2 and "No worker finished the job within 1 s" in err and "Traceback" not in err


def test_doctor_says_when_the_model_is_a_random_test_model(tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAP_STORE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    _, out, err = run(["doctor", "--model", str(tiny_model)], capsys)
    assert "random test model" in " ".join((out + err).split())  # rich wraps long lines
