"""The CTranslate2 backend: the converted (merged, quantized) model behind the same interface.

Tokens come from the model's own Hugging Face tokenizer, so prompts, token counts and map-reduce
splits are exactly the transformers backend's; only the generate call differs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from worker.model.base import RuntimeBase
from worker.model.conversion import converted_model
from worker.model.generation import GenerationSettings
from worker.model.loading import MODEL_SETTING, load_pretrained
from worker.model.prompt import PromptTemplate

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger("worker.model.runtime")
# transformers samples from the 50 most likely tokens unless told otherwise (GenerationConfig.top_k).
HF_DEFAULT_TOP_K = 50


def translate_options(generation: GenerationSettings) -> dict[str, Any]:
    """transformers' generate arguments as CTranslate2's translate_batch options, one to one.

    For T5 both count generated tokens the same way: the decoder start token is not counted and the
    EOS step is (checked token for token against transformers in tests/test_ct2_backend.py).
    """
    options: dict[str, Any] = {
        "beam_size": generation.num_beams,
        "max_decoding_length": generation.max_new_tokens,
        "min_decoding_length": generation.min_new_tokens,
        "length_penalty": generation.length_penalty,
        "no_repeat_ngram_size": generation.no_repeat_ngram_size,
        "repetition_penalty": generation.repetition_penalty,
        "max_input_length": 0,  # never truncate: the runtime checks the window and map-reduces instead
        "return_scores": False,
    }
    if generation.do_sample:
        options.update(
            sampling_topk=HF_DEFAULT_TOP_K, sampling_topp=generation.top_p, sampling_temperature=generation.temperature
        )
    return options


class Ct2Runtime(RuntimeBase):
    """A seq2seq model converted to CTranslate2 (int8 on CPU by default), with the adapter merged in."""

    backend_name = "ctranslate2"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        max_input_tokens: int = 512,
        generation: GenerationSettings = GenerationSettings(),
        batch_size: int = 8,
        batch_tokens: int | None = None,
        prompt: PromptTemplate | None = None,
        cache_dir: str | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        self._init_common(model, adapter, generation, batch_size, batch_tokens, max_input_tokens, prompt)
        self.device, self.compute_type = device, compute_type
        extra = {"cache_dir": cache_dir} if cache_dir else {}
        self.tokenizer = load_pretrained(
            AutoTokenizer.from_pretrained, self.model_id, MODEL_SETTING, "config.json", **extra
        )
        self.model_path = converted_model(self.model_id, self.adapter, compute_type, cache_dir)
        self.translator = ctranslate2.Translator(
            str(self.model_path), device=device, compute_type=compute_type, inter_threads=1,
            intra_threads=cpu_threads or 0,
        )
        self._options = translate_options(generation)
        log.info(
            "loaded model=%s adapter=%s backend=ctranslate2 device=%s compute_type=%s prompt=%s",
            self.model_id, self.adapter, device, compute_type, self.prompt.version,
        )

    @classmethod
    def from_settings(cls, settings: Settings, device: str, compute_type: str) -> Ct2Runtime:
        from worker.model.backend import cpu_threads

        return cls(
            settings.model,
            settings.adapter,
            device=device,
            compute_type=compute_type,
            max_input_tokens=settings.max_input_tokens,
            generation=GenerationSettings.from_settings(settings, settings.adapter or settings.model),
            batch_size=settings.batch_size,
            batch_tokens=settings.batch_tokens,
            cache_dir=settings.cache_dir,
            cpu_threads=cpu_threads(settings),
        )

    def _generate_ids(self, batch_ids: list[list[int]]) -> list[list[int]]:
        tokens = [self.tokenizer.convert_ids_to_tokens(row) for row in batch_ids]
        results = self.translator.translate_batch(tokens, **self._options)
        return [self.tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]
