"""The CTranslate2 backend on the tiny T5: the same tokens as transformers, the same outputs, a real
conversion cache keyed by the adapter's bytes, and clear errors or a fallback without the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from worker.model.base import SummaryOutput
from worker.model.ct2_runtime import Ct2Runtime, translate_options
from worker.model.prompt import build_prompt
from worker.model.runtime import GenerationSettings, SummarizerBackend, TransformersRuntime

GEN = GenerationSettings(max_new_tokens=12)


def _dialogues(dialogsum_dir: Path, count: int, max_chars: int = 700) -> list[str]:
    found: list[str] = []
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        for row in handle:
            dialogue = json.loads(row)["dialogue"]
            if len(dialogue) <= max_chars:
                found.append(dialogue)
            if len(found) == count:
                return found
    return found


def _long_dialogue(dialogsum_dir: Path) -> str:
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        return "\n".join(json.loads(next(handle))["dialogue"] for _ in range(8))


@pytest.fixture(scope="module")
def ct2_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("ct2-cache"))


@pytest.fixture(scope="module")
def torch_runtime(tiny_model: Path) -> TransformersRuntime:
    return TransformersRuntime(str(tiny_model), device="cpu", generation=GEN, batch_size=4)


@pytest.fixture(scope="module")
def ct2_float32(tiny_model: Path, ct2_cache: str) -> Ct2Runtime:
    return Ct2Runtime(str(tiny_model), compute_type="float32", generation=GEN, batch_size=4, cache_dir=ct2_cache)


def test_float32_gives_exactly_the_transformers_greedy_tokens(
    torch_runtime: TransformersRuntime, ct2_float32: Ct2Runtime, dialogsum_dir: Path
) -> None:
    prompts = [build_prompt(d) for d in _dialogues(dialogsum_dir, 8)]
    expected, _ = torch_runtime.generate_token_ids(prompts)
    got, calls = ct2_float32.generate_token_ids(prompts)
    assert got == expected and all(got)
    assert len(set(calls)) == 2  # eight prompts, two length-sorted batches of four
    assert isinstance(ct2_float32, SummarizerBackend)
    assert (ct2_float32.backend_name, ct2_float32.compute_type) == ("ctranslate2", "float32")
    assert (torch_runtime.backend_name, torch_runtime.compute_type) == ("transformers", "float32")


def test_forced_length_counts_new_tokens_like_transformers(
    torch_runtime: TransformersRuntime, ct2_float32: Ct2Runtime, dialogsum_dir: Path
) -> None:
    # min = max new tokens (what the serving benchmark forces): both give exactly that many tokens
    forced = GenerationSettings(max_new_tokens=9, min_new_tokens=9)
    prompts = [build_prompt(d) for d in _dialogues(dialogsum_dir, 3)]
    for runtime in (torch_runtime, ct2_float32):
        runtime.generation = forced
    ct2_float32._options = translate_options(forced)
    try:
        ct2_rows, _ = ct2_float32.generate_token_ids(prompts)
        torch_rows, _ = torch_runtime.generate_token_ids(prompts)
    finally:
        torch_runtime.generation = ct2_float32.generation = GEN
        ct2_float32._options = translate_options(GEN)
    assert [len(r) for r in ct2_rows] == [9, 9, 9] and ct2_rows == torch_rows


def test_int8_gives_summaries_of_the_same_shape(
    torch_runtime: TransformersRuntime, tiny_model: Path, ct2_cache: str, dialogsum_dir: Path
) -> None:
    int8 = Ct2Runtime(str(tiny_model), compute_type="int8", generation=GEN, batch_size=4, cache_dir=ct2_cache)
    dialogues = [*_dialogues(dialogsum_dir, 3), _long_dialogue(dialogsum_dir)]
    got = int8.summarize_detailed(dialogues)
    expected = torch_runtime.summarize_detailed(dialogues)
    assert all(isinstance(o, SummaryOutput) and o.text.strip() for o in got)
    assert [(o.input_tokens, o.parts, o.model_calls) for o in got] == [
        (o.input_tokens, o.parts, o.model_calls) for o in expected
    ]
    assert got[-1].parts > 1  # the long one was map-reduced on this backend too
    assert all(0 < o.output_tokens <= 2 * GEN.max_new_tokens for o in got)
    assert int8.compute_type == "int8" and "int8" in int8.model_path.name


def test_adapter_is_merged_before_conversion(
    tiny_model: Path, tiny_adapter: Path, ct2_float32: Ct2Runtime, ct2_cache: str, dialogsum_dir: Path
) -> None:
    prompts = [build_prompt(d) for d in _dialogues(dialogsum_dir, 4)]
    adapted = Ct2Runtime(str(tiny_model), str(tiny_adapter), compute_type="float32", generation=GEN,
                         cache_dir=ct2_cache)
    merged = TransformersRuntime(str(tiny_model), str(tiny_adapter), device="cpu", generation=GEN)
    got, _ = adapted.generate_token_ids(prompts)
    assert got != ct2_float32.generate_token_ids(prompts)[0]  # the adapter changes the output
    assert got == merged.generate_token_ids(prompts)[0]  # exactly as the merged transformers model
    assert adapted.model_path != ct2_float32.model_path


def _scale_lora_b(folder: Path, factor: float) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    weights = load_file(str(path))
    save_file({k: (v * factor if "lora_B" in k else v) for k, v in weights.items()}, str(path))


def test_changed_adapter_files_are_converted_again(
    tiny_model: Path, tiny_adapter: Path, tmp_path: Path, dialogsum_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = shutil.copytree(tiny_adapter, tmp_path / "adapter")
    cache = str(tmp_path / "cache")
    prompts = [build_prompt(d) for d in _dialogues(dialogsum_dir, 4)]

    def load() -> Ct2Runtime:
        return Ct2Runtime(str(tiny_model), str(adapter), compute_type="float32", generation=GEN, cache_dir=cache)

    first = load()
    before = first.generate_token_ids(prompts)[0]
    caplog.clear()
    with caplog.at_level("INFO", logger="worker.model.conversion"):
        again = load()  # a restart with the same adapter: the cached folder, no conversion
    assert again.model_path == first.model_path
    assert "using the converted model cached" in caplog.text and "converting" not in caplog.text
    _scale_lora_b(adapter, 3.0)  # retrained: same file names, different bytes
    changed = load()
    assert changed.model_path != first.model_path
    after = changed.generate_token_ids(prompts)[0]
    expected = TransformersRuntime(str(tiny_model), str(adapter), device="cpu", generation=GEN)
    assert after != before and after == expected.generate_token_ids(prompts)[0]
    leftovers = [p.name for p in Path(cache, "ct2").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temporary conversion folders are gone


def _doctor(tiny_model: Path, tmp_path: Path, backend: str, *, hide_ct2: bool) -> subprocess.CompletedProcess[str]:
    """`recap doctor` through the real entry point, in a process where ctranslate2 may not import.

    Its report goes to stderr (the CLI's console); both streams are searched.
    """
    hide = "sys.modules['ctranslate2'] = None  # what an image without the package looks like\n"
    run = "from recap.cli import main\nsys.argv = ['recap', 'doctor']\nmain()\n"
    code = "import sys\n" + (hide if hide_ct2 else "") + run
    env = dict(os.environ, RECAP_BACKEND=backend, RECAP_MODEL=str(tiny_model), RECAP_CACHE_DIR=str(tmp_path),
               RECAP_STORE_URL=f"sqlite:///{tmp_path / 'recap.db'}", RECAP_MAX_NEW_TOKENS="4",
               RECAP_REDIS_URL=f"redis://127.0.0.1:6379/{os.environ.get('RECAP_TEST_REDIS_DB', '15')}",
               COLUMNS="400")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def _check_line(done: subprocess.CompletedProcess[str], label: str) -> str:
    """The doctor's ``✓ label: ...`` or ``✗ label: ...`` line."""
    lines = (done.stdout + done.stderr).splitlines()
    return next(line for line in lines if line[:1] in "✓✗" and line[1:].strip().startswith(label + ":"))


@pytest.mark.slow
def test_ctranslate2_without_the_package_names_the_setting(tiny_model: Path, tmp_path: Path) -> None:
    done = _doctor(tiny_model, tmp_path, "ctranslate2", hide_ct2=True)
    assert done.returncode == 1, done.stdout + done.stderr
    model_line = _check_line(done, "model")
    assert "RECAP_BACKEND=ctranslate2" in model_line and "ctranslate2 package cannot be imported" in model_line
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_auto_without_the_package_falls_back_and_says_so(tiny_model: Path, tmp_path: Path) -> None:
    done = _doctor(tiny_model, tmp_path, "auto", hide_ct2=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    backend_line = _check_line(done, "backend")
    assert "✓" in backend_line and "transformers float32" in backend_line, output
    assert "RECAP_BACKEND=auto fell back to transformers" in backend_line
    assert "ctranslate2 package cannot be imported" in backend_line
    assert "RECAP_BACKEND=auto: not using CTranslate2" in output and "falling back to transformers" in output


@pytest.mark.slow
def test_auto_with_the_package_serves_ctranslate2(tiny_model: Path, tmp_path: Path) -> None:
    done = _doctor(tiny_model, tmp_path, "auto", hide_ct2=False)
    backend_line = _check_line(done, "backend")
    assert "ctranslate2 int8" in backend_line and str(tmp_path / "ct2") in backend_line, done.stdout + done.stderr


@pytest.fixture
def unconvertible_model(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny T5 with a tanh feed-forward: transformers runs it, CTranslate2's converter has no tanh."""
    folder = shutil.copytree(tiny_model, tmp_path / "tanh-t5")
    config = json.loads((folder / "config.json").read_text())
    config.update(feed_forward_proj="tanh", dense_act_fn="tanh", is_gated_act=False)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_conversion_failure_falls_back_under_auto(
    unconvertible_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from config.settings import load_settings
    from worker.model.backend import build_runtime, describe_backend
    from worker.model.runtime import ModelLoadError, clear_runtime_cache, get_runtime

    base = dict(model=str(unconvertible_model), cache_dir=str(tmp_path / "cache"), max_new_tokens=4)
    with pytest.raises(ModelLoadError, match="RECAP_BACKEND=ctranslate2: CTranslate2 could not convert"):
        build_runtime(load_settings(backend="ctranslate2", **base))
    settings = load_settings(backend="auto", **base)
    clear_runtime_cache()
    try:
        with caplog.at_level("WARNING", logger="worker.model.backend"):
            runtime = get_runtime(settings)
        assert runtime.backend_name == "transformers" and runtime.summarize_batch(["#Person1#: Hi."])[0] is not None
        assert "RECAP_BACKEND=auto: not using CTranslate2" in caplog.text and "could not convert" in caplog.text
        assert "fell back to transformers" in describe_backend(settings)
    finally:
        clear_runtime_cache()
    assert not any(p.name.startswith(".") for p in (tmp_path / "cache" / "ct2").iterdir())  # no half conversion
