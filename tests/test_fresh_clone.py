"""The README's test command on a fresh machine: a clone with no ../shared and no RECAP_DIALOGSUM_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[1]
SKIP_LINE = "DialogSum not found: set RECAP_DIALOGSUM_DIR to a folder with train/validation/test.jsonl"
# A handful of real tests: the tiny model and its tokenizer, the CLI, and files where DialogSum tests are skipped.
REAL_TESTS = ["tests/test_tiny_model.py::test_the_fixture_model_is_marked_random",
              "tests/test_tiny_model.py::test_data_option_chooses_the_text",
              "tests/test_cli.py::test_format_prints_exactly_what_the_model_sees",
              "tests/test_cli.py::test_summarize_prints_a_summary",
              "tests/test_dialogue_parsers.py",
              "tests/test_runtime.py::test_loads_from_folder_on_cpu_in_float32",
              "tests/test_runtime.py::test_three_dialogues_one_padded_generate_call"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("fresh")  # no "shared" folder beside the clone
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    target = home / "recap"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", head], check=True)
    env = {key: value for key, value in os.environ.items() if key not in ("RECAP_DIALOGSUM_DIR", "PYTHONPATH")}
    # Offline, and a cache with no DialogSum in it: the hub route must fail fast, not download.
    env.update(PYTHONPATH=str(target), HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(home / "cache"))
    return target, env


def pytest_in(clone: tuple[Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    target, env = clone
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=target, env=env,
                          capture_output=True, text=True, timeout=600)


def test_collection_has_no_errors(clone: tuple[Path, dict[str, str]]) -> None:
    collected = pytest_in(clone, "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in collected.stdout.lower().splitlines()[-1]


def test_real_tests_pass_and_dialogsum_tests_skip_with_the_message(clone: tuple[Path, dict[str, str]]) -> None:
    ran = pytest_in(clone, "-q", "-rs", "-x", *REAL_TESTS)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    summary = ran.stdout.splitlines()[-1]
    assert " passed" in summary and " skipped" in summary and "error" not in summary, summary
    assert SKIP_LINE in ran.stdout
    assert "Traceback" not in ran.stdout
