"""Export a dict-input model for deployment and time it.

    program = export_program(model, example)                 # torch.export, dynamic batch size
    path = export_onnx(program, example, artifacts_dir() / "fusion.onnx")
    session = onnx_session(path)
    logits = run_onnx(session, inputs)                       # (B, num_classes), a torch tensor
    difference = check_onnx(model, session, inputs)          # raises if above the tolerance
    seconds = median_latency(lambda: model(inputs))

``example`` is a dict of example inputs, e.g. ``{"image": (B, 1, 28, 28), "audio": (B, 32, 51)}``
with B >= 2; axis 0 of every input becomes a dynamic batch size shared by all of them. The
ONNX graph's inputs are named after the dict's keys, in its order.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

#: Default tolerance of ``check_onnx``: float32 ONNX Runtime kernels add rounding differences.
ONNX_ATOL = 1e-4
ONNX_RTOL = 1e-4


def _check_example(example: Mapping[str, Tensor]) -> None:
    if not isinstance(example, Mapping) or not example:
        raise TypeError(f"example must be a non-empty dict {{name: tensor}}, got {type(example).__name__}")
    sizes = {name: tuple(x.shape)[:1] for name, x in example.items()}
    if len(set(sizes.values())) != 1 or next(iter(sizes.values())) in {(), (0,), (1,)}:
        raise ValueError(f"example inputs need one batch size >= 2 on axis 0 (a dynamic axis), got {sizes}")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every module of ``model`` in eval mode, then give each back its own mode."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


def export_program(model: nn.Module, example: Mapping[str, Tensor]) -> ExportedProgram:
    """``torch.export`` of ``model(inputs)`` in eval mode, with a dynamic batch size.

    The result's ``.module()`` is called like the model: ``program.module()(inputs)``.
    ``model`` keeps its own train/eval modes.
    """
    _check_example(example)
    batch = Dim("batch")
    example = dict(example)
    with _eval_mode(model):
        return torch.export.export(model, (example,), dynamic_shapes=({name: {0: batch} for name in example},))


def export_onnx(model: nn.Module | ExportedProgram, example: Mapping[str, Tensor], path: str | Path) -> Path:
    """Write ``model`` (or its ``export_program``) as one ONNX file at ``path``; returns the path.

    The graph's inputs are named after ``example``'s keys, its output is ``"logits"``.
    """
    program = model if isinstance(model, ExportedProgram) else export_program(model, example)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # a deprecation inside torch's own exporter, not in our code
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        torch.onnx.export(program, f=str(path), input_names=list(example), output_names=["logits"],
                          external_data=False, verbose=False)
    return path


def onnx_session(path: str | Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session for the file at ``path`` (``threads``: intra-op threads, None = default)."""
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: onnxruntime.InferenceSession, inputs: Mapping[str, Tensor]) -> Tensor:
    """Run ``session`` on the graph's inputs taken from ``inputs`` (extra keys are ignored) -> first output."""
    names = [node.name for node in session.get_inputs()]
    missing = [name for name in names if name not in inputs]
    if missing:
        raise ValueError(f"run_onnx: missing input {missing[0]!r}; the graph needs {names}, got {list(inputs)}")
    feed = {name: inputs[name].detach().cpu().numpy() for name in names}
    return torch.from_numpy(np.asarray(session.run(None, feed)[0]))


@torch.no_grad()
def check_onnx(model: nn.Module, session: onnxruntime.InferenceSession, inputs: Mapping[str, Tensor],
               atol: float = ONNX_ATOL, rtol: float = ONNX_RTOL) -> float:
    """Largest absolute difference between the eager model and ONNX Runtime on ``inputs``.

    Raises ``AssertionError`` (from ``torch.testing.assert_close``) when an output differs by
    more than ``atol + rtol * |eager|``. The eager model runs in eval mode; it keeps its own modes.
    """
    with _eval_mode(model):
        eager = model(dict(inputs)).cpu()
    exported = run_onnx(session, inputs)
    torch.testing.assert_close(exported, eager, atol=atol, rtol=rtol)
    return float((exported - eager).abs().max())


def median_latency(fn: Callable[[], object], repeats: int = 50, warmup: int = 5) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The median, not the mean, so that a few calls slowed by other programs do not move it.
    On a GPU, make ``fn`` end with ``torch.cuda.synchronize()`` so that the time includes the work.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
