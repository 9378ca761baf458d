"""Export a local sentence-transformers model to ONNX and quantize it to int8, once.

sentence-transformers' own ONNX path goes through optimum, whose releases pin a
transformers older than the one docsight uses; so the export is `torch.onnx` over the
model's own weights, then onnxruntime's transformer optimizer fuses a BERT-family graph
(attention, layer norms, GELU: 1.3x fewer CPU-seconds after quantization, measured on
docsight's chunks), then onnxruntime's dynamic int8 quantization (weights int8,
activations quantized per batch at run time: no calibration data is needed). torch is
imported here only, and only when an export has to be made.

The result lives in `<models dir>/<name>-<key>/`, where the key covers the source files'
size and mtime and the exporter's version: a changed model gets a new export, an unchanged
one is never exported twice, and an export cut short leaves only a temporary folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

EXPORTER_VERSION = "2"  # 2: attention and layer norms fused before quantizing
MODEL_FILE = "model_int8.onnx"
DONE_FILE = "export.json"
SOURCE_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json")
STEPS = (
    "load the weights",
    "export to ONNX",
    "fuse attention and layer norms",
    "quantize to int8",
    "check the result",
)

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what is next)


def export_key(source: Path) -> str:
    """Changes whenever a file the export is made from changes (stat only: no hashing of
    a 90 MB weights file on every start)."""
    digest = hashlib.sha256(EXPORTER_VERSION.encode())
    for name in SOURCE_FILES:
        path = source / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def exported_dir(source: Path, models_dir: Path) -> Path:
    name = source.parent.name if source.name == "model" else source.name  # the bundled one
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "model"
    return models_dir / f"{slug}-{export_key(source)}"


def ensure_exported(source: Path, models_dir: Path, progress: Progress | None = None) -> Path:
    """The folder holding the int8 model for `source`, exporting it first when needed."""
    target = exported_dir(source, models_dir)
    if (target / DONE_FILE).is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _export_lock(models_dir):
        if (target / DONE_FILE).is_file():  # another process exported it while we waited
            return target
        _export(source, target, progress or (lambda done, total, step: None))
        _remove_stale(target)
    from engine.indexes import make_private  # private like the data dir, whatever the umask

    make_private(target)
    return target


class _export_lock:  # noqa: N801 - used as a context manager, reads as one
    """One exporter at a time per models dir; a second process waits, then reuses."""

    def __init__(self, models_dir: Path) -> None:
        self._path = models_dir / ".export.lock"
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _export(source: Path, target: Path, progress: Progress) -> None:
    log.info("exporting %s to ONNX int8 in %s (once per model)", source, target)
    work = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        progress(0, len(STEPS), STEPS[0])
        model = _load_torch_model(source)
        progress(1, len(STEPS), STEPS[1])
        _to_onnx(model, work / "model_fp32.onnx")
        progress(2, len(STEPS), STEPS[2])
        fused = _fuse(source, work / "model_fp32.onnx", work / "model_fused.onnx")
        progress(3, len(STEPS), STEPS[3])
        _quantize(work / ("model_fused.onnx" if fused else "model_fp32.onnx"), work / MODEL_FILE)
        for name in ("model_fp32.onnx", "model_fused.onnx"):
            (work / name).unlink(missing_ok=True)
        progress(4, len(STEPS), STEPS[4])
        _copy_side_files(source, work)
        _check(work)
        (work / DONE_FILE).write_text(
            json.dumps({"source": str(source), "exporter": EXPORTER_VERSION, "fused": fused})
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
        progress(len(STEPS), len(STEPS), "done")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load_torch_model(source: Path) -> object:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class LastHiddenState(torch.nn.Module):
        """The transformer with named inputs and one output, as the ONNX graph takes them."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    # eager attention: the graph shape onnxruntime's attention fusion recognises (the SDPA
    # path exports ops it leaves unfused); the weights and the results are the same
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager")
    return LastHiddenState(model.eval())


FUSABLE = ("bert",)  # config.json model types onnxruntime's "bert" fusions are made for


def _fuse(source: Path, fp32: Path, fused: Path) -> bool:
    """Fuse the graph of a BERT-family model into onnxruntime's attention, skip-layer-norm
    and bias-GELU kernels; False (the graph is left as exported) for any other model, or
    when the optimizer finds nothing to fuse."""
    config = json.loads((source / "config.json").read_text())
    if config.get("model_type") not in FUSABLE:
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,  # the portable graph rewrites only; none tied to this CPU
        use_gpu=False,
    )
    if not optimized.get_fused_operator_statistics().get("Attention"):
        log.warning("onnxruntime fused no attention in %s; quantizing it as exported", source)
        return False
    optimized.save_model_to_file(str(fused))
    return True


def _to_onnx(model: object, path: Path) -> None:
    import warnings

    import torch

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes are not for users
        torch.onnx.export(
            model,  # type: ignore[arg-type]
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not installed
        )


def _quantize(fp32: Path, int8: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs advice ("consider pre-processing") on the root logger; hide only
    # its records, and only while it runs: the root logger's level is the process's own.
    root = logging.getLogger()
    quiet = _OnlyFrom("onnxruntime")
    root.addFilter(quiet)
    try:
        # per channel, reduced range: measured 0.992 cosine to fp32 against 0.951 for
        # per-tensor weights, at the same speed on an AVX2 CPU
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            # shape inference does not type the outputs of fused (com.microsoft) ops
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(quiet)


class _OnlyFrom(logging.Filter):
    """Drops records whose code lies in the named package."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self._package = package

    def filter(self, record: logging.LogRecord) -> bool:
        return f"/{self._package}/" not in record.pathname


def _copy_side_files(source: Path, work: Path) -> None:
    for name in ("tokenizer.json", "config.json", "sentence_bert_config.json", "modules.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, work / name)
    modules = json.loads((source / "modules.json").read_text())
    for module in modules:
        if module["path"] and (source / module["path"]).is_dir():
            shutil.copytree(source / module["path"], work / module["path"])


def _check(work: Path) -> None:
    """The quantized graph loads and answers; a broken export must not be cached."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(work / MODEL_FILE), providers=["CPUExecutionProvider"]
    )
    ids = np.ones((1, 4), dtype=np.int64)
    (out,) = session.run(
        ["last_hidden_state"],
        {"input_ids": ids, "attention_mask": ids, "token_type_ids": np.zeros_like(ids)},
    )
    if out.shape[:2] != (1, 4) or not np.isfinite(out).all():
        raise RuntimeError(f"the exported model answered {out.shape} with non-finite values")


def _remove_stale(current: Path) -> None:
    """Exports of an older version of the same model are never used again."""
    stem = current.name.rsplit("-", 1)[0]
    for other in current.parent.glob(f"{stem}-*"):
        if other != current and other.is_dir() and ".tmp-" not in other.name:
            shutil.rmtree(other, ignore_errors=True)
