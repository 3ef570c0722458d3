"""Inference engines for a sentence-transformers model (params `embed.backend`).

    torch       the model as sentence-transformers runs it
    openvino    the same graph exported to ONNX, compiled by OpenVINO's CPU plugin
    onnx        that ONNX graph run by onnxruntime
    onnx-int8   that graph with int8 weights (per-channel dynamic quantization), onnxruntime

Every engine but torch runs one graph: tokens -> the model's whole module chain (transformer,
pooling, normalisation), exported once from the local model folder with `torch.onnx` and kept
in an export folder (default data/cache/onnx/<model key>/), so nothing is downloaded and a
second run starts at once. The tokenizer stays the model's own.

Which is fastest depends on the CPU; `bench/bench_embed.py` measures texts/s for each and how
many items' Semantic IDs change, and the default in params.yaml follows that measurement.
The float engines agree with torch to ~1e-6 (cosine 1.0000); int8 does not (cosine ~0.99), so
its vectors are cached and keyed apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from h2rec.errors import ConfigError
from h2rec.io import atomic_path

log = logging.getLogger(__name__)

Backend = Literal["torch", "openvino", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "openvino", "onnx", "onnx-int8")
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Engines whose vectors equal torch's up to float rounding share its cache and model key.
EXACT = {"torch", "openvino", "onnx"}
OPSET = 17


def backend_key(model_key: str, backend: str) -> str:
    """The embedding space's name: the model's key, plus the backend where vectors differ."""
    return model_key if backend in EXACT else f"{model_key}+{backend}"


class SentenceGraph(torch.nn.Module):
    """The sentence-transformers chain over plain tensors in a fixed order (what export needs)."""

    def __init__(self, model, names: Sequence[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.names, tensors)))["sentence_embedding"]


def export_onnx(model, path: Path, int8: bool = False) -> Path:
    """Write the model's graph to `path` (and an int8 copy beside it when asked) once."""
    target = path.with_name(path.stem + "_int8.onnx") if int8 else path
    if target.is_file():
        return target
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        features = model.preprocess(["an example sentence", "a second, longer example sentence"])
        names = [n for n in TOKEN_INPUTS if n in features]
        axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
        log.info("exporting %s to ONNX (once) -> %s", type(model).__name__, path)
        with atomic_path(path) as tmp, torch.no_grad():
            torch.onnx.export(
                SentenceGraph(model.eval(), names),
                tuple(features[n] for n in names),
                str(tmp),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript dependency, dynamic axes as given
            )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales: per-tensor ones cost ~0.06 of cosine on MiniLM, per-channel ~0.007.
        with atomic_path(target) as tmp:
            quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    return target


class GraphEngine:
    """Runs an exported graph: (n texts) -> (n, dim) float32, with the model's tokenizer."""

    def __init__(self, model, graph: Path, backend: str, threads: int):
        self.model = model  # tokenizer and settings only; its weights are not used here
        self.backend = backend
        if backend == "openvino":
            import openvino as ov

            core = ov.Core()
            # f32 explicitly: on CPUs with AVX512-BF16 or AMX the plugin's default is bf16, which
            # moves the vectors by ~1e-3 and is no longer the float engine it is cached as.
            settings = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
            compiled = core.compile_model(core.read_model(str(graph)), "CPU", settings)
            self.names = [i.get_any_name() for i in compiled.inputs]
            output = compiled.outputs[0]
            self._run = lambda feed: compiled(feed)[output]
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
            self.names = [i.name for i in session.get_inputs()]
            self._run = lambda feed: session.run(None, feed)[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        features = self.model.preprocess(list(texts))
        return np.asarray(self._run({n: features[n].numpy() for n in self.names}), np.float32)


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"embed.backend: unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    module = {"openvino": "openvino", "onnx": "onnxruntime", "onnx-int8": "onnxruntime"}.get(backend)
    if module is not None:
        try:
            __import__(module)
        except ImportError as e:
            raise ConfigError(
                f"embed.backend: {backend!r} needs the '{module}' package ({e}); install the project's "
                "requirements (`make env`) or set embed.backend: torch"
            ) from e
