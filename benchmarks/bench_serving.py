"""Serving speed in one run: the seed's loop, both backends, and the worker end to end, as ratios.

    .venv/bin/python benchmarks/bench_serving.py                      # flan-t5-base architecture, random weights
    .venv/bin/python benchmarks/bench_serving.py --dialogues 16 --new-tokens 40
    .venv/bin/python benchmarks/bench_serving.py --model /models/flan-t5-base --device cuda

Every path summarizes the same DialogSum dialogues with the same forced number of new tokens
(min = max), so each does the same work; every figure is a ratio to the seed's loop measured in this
run. The worker path enqueues through ``bot.queue`` into a running ``recap worker`` on the real Redis
(db ``--redis-db``, flushed) and waits until every summary row is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DIALOGSUM = Path(os.environ.get("RECAP_DIALOGSUM_DIR", REPO.parent / "shared" / "data" / "dialogsum"))
SEED_PROMPT = "\nSummarize the following conversation.\n\n{dialogue}\n\nSummary: "  # the seed notebook's prompt

# google/flan-t5-base's config.json (the architecture; the weights here are random).
FLAN_T5_BASE = dict(
    vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
    layer_norm_epsilon=1e-6, initializer_factor=1.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
    is_encoder_decoder=True, use_cache=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)


def build_flan_t5_base(folder: Path) -> Path:
    """flan-t5-base's architecture with random weights and a tokenizer trained on DialogSum."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from worker.model.tiny import _train_tokenizer, corpus_from

    tokenizer = _train_tokenizer(corpus_from(DIALOGSUM if DIALOGSUM.is_dir() else None, limit=2000), 8000)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(**FLAN_T5_BASE))
    model.generation_config.max_length = None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_dialogues(count: int, model_dir: str, window: int = 512) -> list[str]:
    """The first ``count`` DialogSum test dialogues whose prompt fits the window, so no path map-reduces
    and every path does the same work (the seed's loop would just run over the window)."""
    from transformers import AutoTokenizer

    path = DIALOGSUM / "test.jsonl"
    if not path.exists():  # still runnable without DialogSum: generated chats
        return [f"#Person1#: Can we move meeting {i} to Friday?\n#Person2#: Yes, at ten." for i in range(count)]
    tokenizer, found = AutoTokenizer.from_pretrained(model_dir), []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            dialogue = json.loads(line)["dialogue"]
            if len(tokenizer(SEED_PROMPT.format(dialogue=dialogue))["input_ids"]) <= window:
                found.append(dialogue)
            if len(found) == count:
                break
    return found


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- the paths ---------------------------------------------------------------------------------------
def seed_loop(model_dir: str, dialogues: list[str], tokens: int, device: str) -> float:
    """The seed's notebook: transformers fp32, one dialogue at a time, model.generate(input_ids, ...)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).to(device)

    def run(batch: list[str]) -> None:
        for dialogue in batch:
            input_ids = tokenizer(SEED_PROMPT.format(dialogue=dialogue), return_tensors="pt").input_ids.to(device)
            output = model.generate(input_ids, max_new_tokens=tokens, min_new_tokens=tokens)[0]
            tokenizer.decode(output, skip_special_tokens=True)

    run(dialogues[:1])  # warm up
    return timed(lambda: run(dialogues))


def runtime_paths(kind: str, model_dir: str, dialogues: list[str], tokens: int, device: str,
                  cache: str) -> dict[str, float]:
    """One dialogue at a time (ctranslate2 only) and all in one batch, through the project's runtime."""
    from worker.model.generation import GenerationSettings

    generation = GenerationSettings(max_new_tokens=tokens, min_new_tokens=tokens)
    options = dict(generation=generation, batch_size=len(dialogues), batch_tokens=1_000_000, cache_dir=cache)
    if kind == "transformers":
        from worker.model.runtime import TransformersRuntime

        runtime: Any = TransformersRuntime(model_dir, device=device, **options)
    else:
        from worker.model.backend import ct2_compute_type, ct2_device, import_ctranslate2
        from worker.model.ct2_runtime import Ct2Runtime

        ct2 = import_ctranslate2()
        where = ct2_device(ct2, device)
        runtime = Ct2Runtime(model_dir, device=where, compute_type=ct2_compute_type(ct2, "auto", where), **options)
    runtime.summarize_detailed(dialogues[:2])  # warm up
    found = {"compute_type": runtime.compute_type}
    if kind != "transformers":
        found["alone"] = timed(lambda: [runtime.summarize_detailed([d]) for d in dialogues])
    found["batch"] = timed(lambda: runtime.summarize_detailed(dialogues))
    return found


class WorkerRun:
    """A real `recap worker` process on the bench's Redis db and SQLite store."""

    def __init__(self, model_dir: str, tokens: int, batch: int, device: str, cache: str, scratch: Path,
                 redis_db: int) -> None:
        from config.settings import load_settings

        self.settings = load_settings(
            model=model_dir, redis_url=f"redis://127.0.0.1:6379/{redis_db}",
            store_url=f"sqlite:///{scratch / 'bench.db'}", max_new_tokens=tokens, min_new_tokens=tokens,
        )
        env = dict(os.environ, RECAP_MODEL=model_dir, RECAP_REDIS_URL=self.settings.redis_url,
                   RECAP_STORE_URL=self.settings.store_url, RECAP_MAX_NEW_TOKENS=str(tokens),
                   RECAP_MIN_NEW_TOKENS=str(tokens), RECAP_BATCH_SIZE=str(batch), RECAP_CACHE_DIR=cache,
                   RECAP_DEVICE=device, RECAP_LOG_LEVEL="INFO", PYTHONPATH=str(REPO))
        self.log = open(scratch / "worker.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "recap", "worker"], env=env, cwd=scratch,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.peak_rss = 0
        self._sampling = True
        threading.Thread(target=self._sample_rss, daemon=True).start()

    def _sample_rss(self) -> None:
        import psutil

        process = psutil.Process(self.process.pid)
        while self._sampling and self.process.poll() is None:
            try:
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def high_water_mark(self) -> int:
        """VmHWM: the kernel's peak RSS of the worker over its whole life (load and conversion included)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return self.peak_rss

    def run_jobs(self, dialogues: list[str], timeout_s: float = 1800) -> float:
        """Enqueue every dialogue through bot.queue; seconds until every summary row is stored."""
        from bot.queue import SummaryJob, enqueue_summary, redis_connection
        from bot.store import Store

        store, connection = Store(self.settings.store_url), redis_connection(self.settings)
        ids = [f"cli:bench-{uuid.uuid4().hex}" for _ in dialogues]
        started = time.perf_counter()
        for request_id, dialogue in zip(ids, dialogues, strict=True):
            enqueue_summary(SummaryJob(request_id=request_id, platform="cli", dialogue=dialogue), self.settings,
                            connection)
        pending = set(ids)
        while pending:
            if time.perf_counter() - started > timeout_s or self.process.poll() is not None:
                raise RuntimeError(f"the worker stopped or stalled; see {self.log.name}")
            pending = {r for r in pending if store.get_summary_by_request(r) is None}
            time.sleep(0.005)
        self.request_ids = getattr(self, "request_ids", []) + ids
        return time.perf_counter() - started

    def overhead_ms(self) -> float | None:
        """Mean of the summary rows' overhead_ms (everything but generate), where the column exists."""
        from sqlalchemy import create_engine, inspect, text

        engine = create_engine(self.settings.store_url)
        if "overhead_ms" not in {c["name"] for c in inspect(engine).get_columns("summaries")}:
            return None
        with engine.connect() as conn:
            values = [row[0] for row in conn.execute(text("SELECT overhead_ms FROM summaries")) if row[0] is not None]
        return statistics.mean(values) if values else None

    def stop(self) -> None:
        self._sampling = False
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def worker_paths(model_dir: str, dialogues: list[str], tokens: int, device: str, cache: str, scratch: Path,
                 redis_db: int) -> dict[str, Any]:
    from redis import Redis

    Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}").flushdb()
    worker = WorkerRun(model_dir, tokens, len(dialogues), device, cache, scratch, redis_db)
    try:
        worker.run_jobs(dialogues[:1], timeout_s=1800)  # waits out start-up (load, conversion, warm-up)
        latencies = []
        for dialogue in dialogues[1:4]:  # an idle warm worker, one request at a time
            time.sleep(1.0)
            latencies.append(worker.run_jobs([dialogue]))
        throughput = worker.run_jobs(dialogues)
        lines = (scratch / "worker.log").read_text().splitlines()
        backend = next((line.split("backend ", 1)[1].split(" (")[0] for line in lines
                        if "worker.model.backend: backend " in line), "?")
        return {"throughput": throughput, "latency": statistics.median(latencies), "rss": worker.high_water_mark(),
                "rss_sampled": worker.peak_rss, "overhead_ms": worker.overhead_ms(), "backend": backend}
    finally:
        worker.stop()
        Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}").flushdb()


# -- the report --------------------------------------------------------------------------------------
def report(title: str, seed: float, count: int, runs: dict[str, dict[str, Any]], worker: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("path", "s per summary", "summaries/s", "vs the seed's loop"):
        table.add_column(column, justify="right" if column != "path" else "left")

    def row(name: str, seconds: float) -> None:
        per = seconds / count
        table.add_row(name, f"{per:.3f}", f"{1 / per:.2f}", f"{seed / seconds:.1f}× faster")

    row("the seed's loop: transformers fp32, one at a time", seed)
    transformers = runs["transformers"]
    row(f"transformers backend {transformers['compute_type']}, batch {count}", transformers["batch"])
    ct2 = runs["ctranslate2"]
    row(f"CTranslate2 {ct2['compute_type']}, one at a time", ct2["alone"])
    row(f"CTranslate2 {ct2['compute_type']}, batch {count}", ct2["batch"])
    if worker:
        row(f"worker end to end ({worker['backend']}), {count} jobs", worker["throughput"])
        latency = worker["latency"]
        table.add_row("single request, idle warm worker (enqueue → stored)", f"{latency:.3f}", "",
                      f"{latency / (seed / count):.2f}× the seed's time per summary")
        table.add_row("worker peak RSS (VmHWM)", f"{worker['rss'] / 2**30:.2f} GB", "",
                      f"sampled peak {worker['rss_sampled'] / 2**30:.2f} GB")
        overhead = worker["overhead_ms"]
        table.add_row("worker overhead per job (overhead_ms)", "n/a" if overhead is None else f"{overhead:.0f} ms",
                      "", "column not in this store" if overhead is None else "mean of stored rows")
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a real model folder (default: flan-t5-base's architecture, random weights)")
    parser.add_argument("--dialogues", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=40, help="forced on every path (min = max)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--redis-db", type=int, default=7)
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        scratch = Path(tmp)
        started = time.perf_counter()
        model_dir = args.model or str(build_flan_t5_base(scratch / "flan-t5-base-random"))
        print(f"model ready in {time.perf_counter() - started:.0f} s: {model_dir}", flush=True)
        dialogues, cache = load_dialogues(args.dialogues, model_dir), str(scratch / "cache")
        seed = seed_loop(model_dir, dialogues, args.new_tokens, args.device)
        print(f"seed loop: {seed / len(dialogues):.2f} s per summary", flush=True)
        runs = {}
        for kind in ("transformers", "ctranslate2"):
            runs[kind] = runtime_paths(kind, model_dir, dialogues, args.new_tokens, args.device, cache)
            print(f"{kind}: {runs[kind]}", flush=True)
        worker = None if args.skip_worker else worker_paths(
            model_dir, dialogues, args.new_tokens, args.device, cache, scratch, args.redis_db)
        title = (f"{Path(model_dir).name} on {args.device}, {len(dialogues)} dialogues, {args.new_tokens} new tokens "
                 f"forced, {os.cpu_count()} CPUs")
        report(title, seed, len(dialogues), runs, worker)


if __name__ == "__main__":
    main()
