"""Convert the base model, with the LoRA adapter merged in, to a CTranslate2 model: once, cached on disk.

The cache folder's name is a hash of what the converted weights depend on: the model (its id, or a
local folder's file names, sizes and modification times), the adapter's file contents, the compute
type (weights are quantized at conversion, so an int8 cache holds int8 weights: a quarter of the
float32 size on disk and in memory) and the CTranslate2 version. A restart finds the same folder;
a retrained adapter hashes differently and is converted again, never served from a stale cache.
A conversion is written to a temporary folder and renamed into place, so a crash leaves no half model.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from worker.model.loading import ADAPTER_SETTING, MODEL_SETTING, ModelLoadError, load_pretrained, local_folder

log = logging.getLogger("worker.model.conversion")
FORMAT = 1  # bump when the way we convert changes, so old caches are not reused
INFO_FILE = "recap-conversion.json"
# CTranslate2 stores weights for these compute types; int8_float32 keeps int8 weights like int8.
_QUANTIZATION = {"int8": "int8", "int8_float32": "int8_float32", "int8_bfloat16": "int8_bfloat16",
                 "bfloat16": "bfloat16", "float32": "float32"}


class ConversionError(ModelLoadError):
    """CTranslate2 could not convert this model (an unsupported architecture, a converter failure)."""


def cache_root(cache_dir: str | None) -> Path:
    """``<cache_dir>/ct2``, or ``~/.cache/recap/ct2`` (``$XDG_CACHE_HOME/recap/ct2``)."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "ct2"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recap" / "ct2"


def folder_fingerprint(folder: Path, *, content: bool) -> str:
    """A hash of a folder's top-level files: their bytes (``content``), or names, sizes and mtimes."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(file.name.encode() + b"\0")
        if content:
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        else:
            stat = file.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def conversion_info(model: str, adapter: str | None, compute_type: str) -> dict[str, Any]:
    """Everything the converted weights depend on (hashed into the cache folder's name)."""
    import ctranslate2

    model_folder = local_folder(model, MODEL_SETTING, "config.json")
    adapter_folder = local_folder(adapter, ADAPTER_SETTING, "adapter_config.json") if adapter else None
    return {
        "format": FORMAT,
        "ctranslate2": ctranslate2.__version__,
        "model": str(model_folder.resolve()) if model_folder else model,
        "model_files": folder_fingerprint(model_folder, content=False) if model_folder else None,
        "adapter": (str(adapter_folder.resolve()) if adapter_folder else adapter) if adapter else None,
        "adapter_hash": folder_fingerprint(adapter_folder, content=True) if adapter_folder else None,
        "quantization": _QUANTIZATION[compute_type],
    }


def cached_path(model: str, adapter: str | None, compute_type: str, cache_dir: str | None) -> Path:
    """Where the converted model for these inputs lives (whether or not it is there yet)."""
    info = conversion_info(model, adapter, compute_type)
    key = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:24]
    name = Path(str(info["model"]).rstrip("/")).name or "model"
    return cache_root(cache_dir) / f"{name}-{info['quantization']}-{key}"


def is_converted(folder: Path) -> bool:
    return (folder / "model.bin").is_file() and (folder / INFO_FILE).is_file()


def converted_model(model: str, adapter: str | None, compute_type: str, cache_dir: str | None = None) -> Path:
    """The CTranslate2 folder for this model and adapter, converting it first if it is not cached."""
    target = cached_path(model, adapter, compute_type, cache_dir)
    if is_converted(target):
        log.info("using the converted model cached at %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        _convert(model, adapter, compute_type, cache_dir, scratch)
        try:
            os.rename(scratch / "ct2", target)  # atomic: the folder appears complete or not at all
        except OSError:
            if not is_converted(target):  # another process finished first: use its copy; else a real error
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _convert(model: str, adapter: str | None, compute_type: str, cache_dir: str | None, scratch: Path) -> None:
    started = time.perf_counter()
    what = f"{model}" + (f" + adapter {adapter}" if adapter else "")
    log.info("converting %s for CTranslate2 (%s); this happens once, the result is cached", what, compute_type)
    source = _merged_source(model, adapter, cache_dir, scratch)
    log.info("conversion 2/2: writing the CTranslate2 model (%.0f s so far)", time.perf_counter() - started)
    try:
        from ctranslate2.converters import TransformersConverter

        converter = TransformersConverter(str(source), low_cpu_mem_usage=True)
        converter.convert(str(scratch / "ct2"), quantization=_QUANTIZATION[compute_type], force=True)
    except Exception as exc:  # noqa: BLE001 - the converter raises many types; all mean "cannot convert"
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ConversionError(f"CTranslate2 could not convert {what} ({type(exc).__name__}: {detail})") from exc
    info = conversion_info(model, adapter, compute_type)
    (scratch / "ct2" / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log.info("converted %s in %.1f s", what, time.perf_counter() - started)


def _merged_source(model: str, adapter: str | None, cache_dir: str | None, scratch: Path) -> Path:
    """A local folder the converter can read: the model folder itself, or the merged model saved in float32."""
    folder = local_folder(model, MODEL_SETTING, "config.json")
    if folder is not None and adapter is None:
        log.info("conversion 1/2: reading %s", folder)
        return folder
    import torch
    from transformers import AutoTokenizer

    from worker.model.runtime import load_merged_model

    log.info("conversion 1/2: loading the model%s in float32", " and merging the adapter" if adapter else "")
    extra = {"cache_dir": cache_dir} if cache_dir else {}
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, model, MODEL_SETTING, "config.json", **extra)
    merged = load_merged_model(model, adapter, torch.float32, cache_dir)
    source = scratch / "merged"
    merged.save_pretrained(str(source))
    tokenizer.save_pretrained(str(source))
    del merged  # the torch weights are not needed once saved: do not keep them in the worker
    gc.collect()
    return source
