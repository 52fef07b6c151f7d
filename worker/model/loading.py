"""Load a base model, tokenizer and optional LoRA adapter, failing fast with a message fit for a person.

Local paths never touch the hub. Hub ids are tried from the local cache first; the hub itself is
only asked when it answers a quick connection probe, so an offline machine fails in seconds rather
than after a minute of retries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")

MODEL_SETTING = "RECAP_MODEL (--model)"
ADAPTER_SETTING = "RECAP_ADAPTER (--adapter)"
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_FP16_NAMES = {"float16", "fp16", "half"}


class ModelLoadError(RuntimeError):
    """The base model or adapter could not be loaded; the message names the setting and the path."""


def looks_local(value: str) -> bool:
    """A path rather than a hub id: it starts like a path or exists on disk."""
    return value.startswith(("./", "../", "/", "~", ".\\")) or value in (".", "..") or Path(value).exists()


def _what_to_do(setting: str, marker: str) -> str:
    variable = setting.split()[0]
    return (
        f"Download it on a machine with internet (for example with `hf download`) and point "
        f"{variable} at a local folder containing {marker}."
    )


def local_folder(value: str, setting: str, marker: str) -> Path | None:
    """The folder for a local-looking ``value``, or None for a hub id; raises when it is no model folder."""
    if not looks_local(value):
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{setting} = {value!r}: no such folder. {_what_to_do(setting, marker)}")
    if not (path / marker).is_file():
        raise ModelLoadError(
            f"{setting} = {value!r}: the folder has no {marker}, so it is not a saved model. "
            f"{_what_to_do(setting, marker)}"
        )
    return path


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """A quick TCP probe of the hub endpoint (skipped behind a proxy, where it would mislead)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(name) for name in _PROXY_VARS):
        return True
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def load_pretrained(loader: Callable[..., T], value: str, setting: str, marker: str, **kwargs: Any) -> T:
    """Call ``loader(source, **kwargs)`` (a from_pretrained); every failure becomes ModelLoadError."""
    folder = local_folder(value, setting, marker)
    try:
        if folder is not None:
            return loader(str(folder), **kwargs)
        try:  # a cached copy needs no network at all
            return loader(value, local_files_only=True, **kwargs)
        except Exception:  # noqa: BLE001 - not cached (the error types differ by library); try the hub
            pass
        if not hub_reachable():
            raise ModelLoadError(
                f"{setting} = {value!r}: not in the local model cache and the Hugging Face hub cannot be "
                f"reached. {_what_to_do(setting, marker)}"
            )
        return loader(value, **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - from_pretrained raises many types; all mean "cannot load"
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ModelLoadError(
            f"{setting} = {value!r}: could not load it ({type(exc).__name__}: {detail}). {_what_to_do(setting, marker)}"
        ) from exc


def resolve_device(device: str, dtype: Any = None) -> tuple[Any, Any]:
    """(torch.device, torch.dtype): CUDA in bfloat16 where available, else CPU in float32. Never fp16."""
    import torch

    name = "auto" if dtype is None else str(dtype).removeprefix("torch.").lower()
    if name in _FP16_NAMES:
        raise ValueError(
            f"dtype {dtype!r} refused: T5 overflows in float16 and produces empty or garbage summaries; "
            "use bfloat16 (CUDA) or float32"
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"RECAP_DEVICE (--device) = {device!r}, but CUDA is not available here; use auto or cpu")
    on_cuda = device.startswith("cuda")
    if name == "auto":
        chosen = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32
    elif name in ("bfloat16", "bf16"):
        chosen = torch.bfloat16
    elif name in ("float32", "fp32", "float"):
        chosen = torch.float32
    else:
        raise ValueError(f"dtype {dtype!r} not supported; use auto, bfloat16 or float32")
    return torch.device(device), chosen
