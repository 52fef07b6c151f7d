"""The model runtime on a tiny random T5: real from_pretrained, real padded batches, a real LoRA adapter."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from config.settings import Settings
from worker.model.prompt import PromptTemplate, build_prompt, save_prompt
from worker.model.runtime import (
    GenerationSettings,
    InputTooLongError,
    ModelLoadError,
    SummarizerBackend,
    TransformersRuntime,
    clear_runtime_cache,
    get_runtime,
)

GEN = GenerationSettings(max_new_tokens=12)


def _dialogues(dialogsum_dir: Path, count: int, max_chars: int = 700) -> list[str]:
    found: list[str] = []
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        for row in handle:
            dialogue = json.loads(row)["dialogue"]
            if len(dialogue) <= max_chars:
                found.append(dialogue)
            if len(found) == count:
                break
    return found


@pytest.fixture(scope="module")
def runtime(tiny_model: Path) -> TransformersRuntime:
    return TransformersRuntime(str(tiny_model), generation=GEN, batch_size=8)


@pytest.fixture(scope="module")
def adapted(tiny_model: Path, tiny_adapter: Path) -> TransformersRuntime:
    return TransformersRuntime(str(tiny_model), str(tiny_adapter), generation=GEN, batch_size=8)


def test_loads_from_folder_on_cpu_in_float32(runtime: TransformersRuntime, tiny_model: Path) -> None:
    assert runtime.model_id == str(tiny_model) and runtime.adapter is None
    assert runtime.device.type == "cpu" and runtime.dtype == torch.float32
    assert next(runtime.model.parameters()).dtype == torch.float32
    assert not runtime.model.training
    assert isinstance(runtime, SummarizerBackend)


def test_three_dialogues_one_padded_generate_call(runtime: TransformersRuntime, dialogsum_dir: Path) -> None:
    dialogues = _dialogues(dialogsum_dir, 3)
    before = runtime.model_calls
    summaries = runtime.summarize_batch(dialogues)
    assert runtime.model_calls - before == 1
    assert len(summaries) == 3 and all(isinstance(s, str) and s for s in summaries)
    lengths = sorted(runtime.count_tokens(build_prompt(d)) for d in dialogues)
    assert sorted(runtime.last_batch_lengths) == lengths and lengths[0] < lengths[-1]
    assert runtime.last_batch_padded == lengths[-1]  # the short ones were padded, not the long one cut
    # Padding is masked: each dialogue gets the same summary alone as in the padded batch.
    assert [runtime.summarize_batch([d])[0] for d in dialogues] == summaries


def test_batches_are_chunked_by_batch_size(tiny_model: Path, dialogsum_dir: Path) -> None:
    small = TransformersRuntime(str(tiny_model), generation=GEN, batch_size=2)
    outputs = small.summarize_detailed(_dialogues(dialogsum_dir, 5))
    assert small.model_calls == 3
    # each dialogue went into exactly one of the three calls (model_calls counts a dialogue's own calls)
    assert [o.model_calls for o in outputs] == [1] * 5 and all(o.parts == 1 for o in outputs)


def test_detailed_counts_tokens(runtime: TransformersRuntime, dialogsum_dir: Path) -> None:
    dialogue = _dialogues(dialogsum_dir, 1)[0]
    (output,) = runtime.summarize_detailed([dialogue])
    assert output.input_tokens == runtime.count_tokens(build_prompt(dialogue))
    assert 0 < output.output_tokens <= 2 * GEN.max_new_tokens
    assert (output.parts, output.model_calls) == (1, 1)


def test_adapter_changes_the_output(
    runtime: TransformersRuntime, adapted: TransformersRuntime, dialogsum_dir: Path
) -> None:
    dialogues = _dialogues(dialogsum_dir, 4)
    assert adapted.adapter is not None
    assert not hasattr(adapted.model, "peft_config")  # merged and unloaded: a plain model
    assert adapted.summarize_batch(dialogues) != runtime.summarize_batch(dialogues)


def test_adapter_prompt_json_is_used(tiny_model: Path, tiny_adapter: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_adapter, tmp_path / "adapter")
    custom = PromptTemplate("short-v3", "Dialogue:\n{dialogue}\nSummary:")
    save_prompt(custom, folder)
    loaded = TransformersRuntime(str(tiny_model), str(folder), generation=GEN)
    assert loaded.prompt == custom


def test_generate_never_truncates(runtime: TransformersRuntime) -> None:
    too_long = build_prompt("#Person1#: " + "word " * 2000)
    with pytest.raises(InputTooLongError, match="max_input_tokens=512"):
        runtime.generate([too_long])


def test_warmup_runs_one_call(runtime: TransformersRuntime) -> None:
    before = runtime.model_calls
    runtime.warmup()
    assert runtime.model_calls == before + 1


def test_missing_model_path_names_the_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelLoadError, match="RECAP_MODEL") as caught:
        TransformersRuntime(missing)
    assert missing in str(caught.value) and "config.json" in str(caught.value)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="RECAP_MODEL.*no config.json"):
        TransformersRuntime(str(tmp_path))


def test_bad_adapter_path_names_the_setting(tiny_model: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-adapter")
    with pytest.raises(ModelLoadError, match="RECAP_ADAPTER") as caught:
        TransformersRuntime(str(tiny_model), missing)
    assert missing in str(caught.value)
    with pytest.raises(ModelLoadError, match="RECAP_ADAPTER.*adapter_config.json"):
        TransformersRuntime(str(tiny_model), str(tiny_model))


def test_uncached_hub_id_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="RECAP_MODEL.*recap-tests/no-such-model"):
        TransformersRuntime("recap-tests/no-such-model", cache_dir=str(tmp_path))
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("dtype", ["float16", "fp16", torch.float16])
def test_fp16_is_refused(tiny_model: Path, dtype: object) -> None:
    with pytest.raises(ValueError, match="float16"):
        TransformersRuntime(str(tiny_model), dtype=dtype)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error(tiny_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="RECAP_DEVICE"):
        TransformersRuntime(str(tiny_model), device="cuda")


def test_generation_settings_from_settings(settings: Settings) -> None:
    generation = GenerationSettings.from_settings(settings)
    assert generation.as_dict() == settings.generation_dict()
    assert "temperature" not in generation.generate_kwargs()
    sampled = GenerationSettings(do_sample=True, temperature=0.7, top_p=0.9).generate_kwargs()
    assert (sampled["temperature"], sampled["top_p"]) == (0.7, 0.9)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    clear_runtime_cache()
    yield
    clear_runtime_cache()


def test_get_runtime_loads_once(settings: Settings, fresh_cache: None) -> None:
    first = get_runtime(settings)
    assert get_runtime(settings) is first
    assert first.generation.max_new_tokens == settings.max_new_tokens == 16
    other = settings.model_copy(update={"max_new_tokens": 8})
    assert get_runtime(other) is not first
