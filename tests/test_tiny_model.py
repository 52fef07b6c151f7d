"""`recap model tiny`: an offline model whose tokenizer keeps a normal chat short, and says it is random."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.playground.model_info import is_random_test_model

CHAT = """Alice: Hey, are we still on for the launch on Friday?
Bob: Yes, but the docs are not ready yet.
Alice: Can you ask Carol to review them tomorrow morning?
Bob: Sure, I will send her the draft tonight.
Carol: Got it. I can look at them after lunch.
Alice: Great. What about the release notes?
Bob: I forgot to update them, sorry. I'll do it today.
Carol: Also, the demo server is down again.
Alice: Who is fixing it?
Bob: Dave said he would restart it this afternoon.
Carol: Okay, let me know when it is back.
Alice: Thanks everyone, see you on Friday!
"""


def recap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recap", *args], capture_output=True, text=True, timeout=240,
                          env=env)


def token_count(model: Path, text: str) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(model)(text).input_ids)


@pytest.mark.slow
def test_tiny_model_keeps_a_twelve_line_chat_short(tmp_path: Path) -> None:
    chat = tmp_path / "chat.txt"
    chat.write_text(CHAT)
    env = {key: value for key, value in os.environ.items() if key != "RECAP_DIALOGSUM_DIR"}  # generated text
    built = recap("model", "tiny", str(tmp_path / "tiny"), env=env)
    assert built.returncode == 0, built.stderr
    assert "random" in built.stdout.lower() and "--model" in built.stdout
    formatted = recap("format", str(chat))
    assert formatted.returncode == 0, formatted.stderr
    assert len(formatted.stdout.splitlines()) == 12
    assert token_count(tmp_path / "tiny", formatted.stdout) < 200
    assert is_random_test_model(str(tmp_path / "tiny"))


@pytest.mark.slow
def test_data_option_chooses_the_text(tmp_path: Path, dialogsum_dir: Path) -> None:
    from transformers import AutoTokenizer

    built = recap("model", "tiny", str(tmp_path / "tiny"), "--data", str(dialogsum_dir))
    assert built.returncode == 0, built.stderr
    assert str(dialogsum_dir) in built.stdout
    # DialogSum writes "#Person1#" tens of thousands of times, so it becomes one token; generated text does not.
    assert AutoTokenizer.from_pretrained(tmp_path / "tiny").tokenize("#Person1#: hi")[0] == "▁#Person1#"


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    built = recap("model", "tiny", str(tmp_path / "tiny"), "--data", str(tmp_path / "nope"))
    assert built.returncode == 2
    assert "nope" in built.stderr and "Traceback" not in built.stderr


def test_the_fixture_model_is_marked_random(tiny_model: Path) -> None:
    assert is_random_test_model(str(tiny_model))
    assert not is_random_test_model("google/flan-t5-base")
