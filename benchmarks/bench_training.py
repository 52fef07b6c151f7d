"""Training throughput: tokens/s of optimizer steps, LoRA against full fine-tuning, measured in one run.

    .venv/bin/python benchmarks/bench_training.py                      # tiny random T5, CPU
    .venv/bin/python benchmarks/bench_training.py --model google/flan-t5-base --data ../shared/data/dialogsum

Tokens are the non-padding input plus label tokens of each batch. Full fine-tuning is the baseline:
the ratio column is each method's tokens/s divided by full fine-tuning's, measured in the same process
on the same batches. On CUDA the steps run under bf16 autocast, as `recap train` does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _batches(
    tokenizer: Any, data: str | None, batch_size: int, steps: int, max_in: int, max_out: int
) -> list:
    from training.data import load_split
    from worker.model.prompt import build_prompt

    if data:
        rows = [(e.dialogue, e.summary) for e in load_split(data, "train", batch_size * steps)]
    else:
        rows = [
            (
                "#Person1#: Shall we meet for lunch at noon?\n#Person2#: Yes, at the cafe near the office.",
                "#Person1# and #Person2# will have lunch at noon.",
            )
        ] * (batch_size * steps)
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = tokenizer(
            [build_prompt(d) for d, _ in chunk],
            truncation=True,
            max_length=max_in,
            padding=True,
            return_tensors="pt",
        )
        labels = tokenizer(
            text_target=[s for _, s in chunk],
            truncation=True,
            max_length=max_out,
            padding=True,
            return_tensors="pt",
        )["input_ids"]
        labels[labels == tokenizer.pad_token_id] = -100
        batch["labels"] = labels
        out.append(batch)
    return out


def _model(method: str, model_path: str, r: int) -> Any:
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(model_path)
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                task_type=TaskType.SEQ_2_SEQ_LM,
                r=r,
                lora_alpha=r,
                target_modules=["q", "v"],
                lora_dropout=0.05,
            ),
        )
    return model


def measure(method: str, model_path: str, batches: list, warmup: int, r: int) -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = _model(method, model_path, r).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    tokens, seconds = 0, 0.0
    for index, batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if index >= warmup:  # the first steps pay for allocation and kernel selection
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
    return {
        "method": method,
        "device": device,
        "steps": len(batches) - warmup,
        "tokens": tokens,
        "seconds": round(seconds, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "trainable_params": sum(p.numel() for p in params),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model folder or hub id (default: a tiny random T5 built now)")
    parser.add_argument("--data", help="DialogSum folder or JSONL (default: one repeated short dialogue)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-input-tokens", type=int, default=256)
    parser.add_argument("--max-target-tokens", type=int, default=64)
    parser.add_argument("--r", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(REPO))
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if not model_path:
            from worker.model.tiny import build_tiny_t5

            data_dir = args.data if args.data and Path(args.data).is_dir() else None
            model_path = str(build_tiny_t5(Path(tmp) / "tiny", dialogsum_dir=data_dir))
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        batches = _batches(
            tokenizer,
            args.data,
            args.batch_size,
            args.steps + args.warmup,
            args.max_input_tokens,
            args.max_target_tokens,
        )
        results = [measure(m, model_path, batches, args.warmup, args.r) for m in ("full", "lora")]
    baseline = results[0]["tokens_per_s"]
    for row in results:
        row["ratio_vs_full"] = round(row["tokens_per_s"] / baseline, 3)
    if args.json:
        print(json.dumps({"model": args.model or "tiny-t5", "results": results}))
        return
    print(
        f"model {args.model or 'tiny random T5'}, batch {args.batch_size}, {args.steps} timed steps "
        f"after {args.warmup} warm-up, device {results[0]['device']}"
    )
    print(f"{'method':<6} {'tokens/s':>10} {'vs full':>8} {'trainable':>12}")
    for row in results:
        print(
            f"{row['method']:<6} {row['tokens_per_s']:>10.1f} {row['ratio_vs_full']:>8.3f} "
            f"{row['trainable_params']:>12,}"
        )


if __name__ == "__main__":
    main()
