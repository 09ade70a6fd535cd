"""One training loop for the whole course, from a laptop CPU to several GPUs.

Batches are dictionaries: modality tensors (``"image"``, ``"audio"``, ...) plus one or
more target tensors (``"label"``, or ``"digit"`` and ``"motion"`` for multitask). The
model is called with the batch minus its targets and returns logits, or a dict of
logits for multitask models; ``loss_fn(outputs, targets)`` and ``score_fn(outputs,
targets)`` receive the matching tensor or dict. The same code runs on CPU, CUDA and MPS.

``loss_fn`` always sees tensors on the training device (a loss holding class weights
on the GPU works); ``score_fn`` sees outputs and targets concatenated on the CPU.

At scale (notebook 12) the same ``fit`` call runs under ``torchrun --nproc_per_node=N``
with DistributedDataParallel (see :mod:`course_lib.distributed`), in mixed precision
(``precision="bf16"`` or ``"fp16"``), compiled (``compile=True``) and with gradient
accumulation (``accumulate=k``). A training step never waits for the device: losses and
outputs stay on it, and the host reads them once, at the end of the epoch.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.config import get_device
from course_lib.metrics import accuracy
from course_lib.models.multimodal import count_parameters

Outputs = Tensor | dict[str, Tensor]
TargetKey = str | Sequence[str]
SCHEDULER_INTERVALS = ("epoch", "step")
#: ``precision`` of :func:`fit`: float32, or autocast to bfloat16 or float16 (the latter with a gradient scaler).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch ``history`` (for plots) and the best epoch."""

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_score: float = float("-inf")
    seconds: float = 0.0


def run_summary(model: nn.Module, result: FitResult, epochs: int, seed: int, device: torch.device | str) -> dict:
    """The columns every result row of a trained model shares: its size, training time and settings."""
    return {"parameters": count_parameters(model), "seconds": result.seconds,
            "best_epoch": result.best_epoch, "epochs": epochs, "seed": seed, "device": str(device)}


def move_to(batch: dict, device: torch.device | str) -> dict:
    """Copy every tensor of ``batch`` to ``device``; other values (lists of strings) stay."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def split_batch(batch: dict, target_key: TargetKey) -> tuple[dict, Outputs]:
    """``(inputs, targets)``: targets is a tensor for one key, a dict for several."""
    keys = [target_key] if isinstance(target_key, str) else list(target_key)
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(f"batch has no target {missing}; its keys are {sorted(batch)}")
    inputs = {k: v for k, v in batch.items() if k not in keys}
    targets = batch[target_key] if isinstance(target_key, str) else {k: batch[k] for k in keys}
    return inputs, targets


def _concat(chunks: list[Outputs]) -> Outputs:
    if isinstance(chunks[0], dict):
        return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
    return torch.cat(chunks)


def _detach_cpu(x: Outputs) -> Outputs:
    if isinstance(x, dict):
        return {k: v.detach().cpu() for k, v in x.items()}
    return x.detach().cpu()


def _detach(x: Outputs, float32: bool = False) -> Outputs:
    """Detached from the graph, still on the device; low-precision floats widened to float32 if asked."""
    if isinstance(x, dict):
        return {k: _detach(v, float32) for k, v in x.items()}
    x = x.detach()
    return x.float() if float32 and x.is_floating_point() else x


def _gather(x: Outputs, total: int | None) -> Outputs:
    """Every process's rows of ``x`` in data order (see :func:`distributed.gather_in_order`); ``x`` for one process."""
    if isinstance(x, dict):
        return {k: distributed.gather_in_order(v, total) for k, v in x.items()}
    return distributed.gather_in_order(x, total)


def _dataset_length(loader: Iterable[dict]) -> int | None:
    """How many samples a sharded loader's dataset holds (to cut off a DistributedSampler's padding)."""
    if isinstance(loader, DataLoader) and isinstance(loader.sampler, DistributedSampler):
        return len(loader.dataset)
    return None


def autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``precision``'s dtype on ``device``'s type; no context at all for ``"fp32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=PRECISIONS[precision])


def _accumulation_sizes(loader: Iterable[dict], accumulate: int) -> Callable[[int], int]:
    """For batch ``i``, how many batches share its optimizer step (``accumulate``, fewer in a short last group)."""
    batches = len(loader) if hasattr(loader, "__len__") else None
    if batches is None:
        return lambda i: accumulate
    full_groups = batches // accumulate
    return lambda i: accumulate if i // accumulate < full_groups else batches - full_groups * accumulate


def train_one_epoch(model: nn.Module, loader: Iterable[dict], loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    device: torch.device, target_key: TargetKey = "label", score_fn: Callable = accuracy,
                    grad_clip: float | None = None, scheduler: LRScheduler | None = None, *,
                    precision: str = "fp32", scaler: torch.amp.GradScaler | None = None,
                    accumulate: int = 1) -> dict[str, float]:
    """One pass over ``loader`` with gradient steps; returns the mean ``loss`` and the ``score``.

    ``scheduler``, when given, steps after every optimizer step (a per-step schedule). With
    ``accumulate=k`` the gradients of k batches are summed before one optimizer step, each
    batch's loss divided by k: with batches of equal size, the same step as one k times larger
    batch. ``model`` may be wrapped in DistributedDataParallel: then the gradients are averaged
    over the processes at each optimizer step only, and the loss and score are those of all
    processes' samples (a DistributedSampler's few padding samples included in the loss).

    Nothing in the loop waits for the device: the losses and outputs stay there and are
    read once at the end (one host sync per epoch; a ``"fp16"`` scaler adds one per step). A
    non-finite loss is therefore reported at the end of the epoch in which it appeared.
    """
    model.train()
    group_size = _accumulation_sizes(loader, accumulate)
    losses, sizes, outputs_seen, targets_seen = [], [], [], []
    for i, batch in enumerate(loader):
        inputs, targets = split_batch(move_to(batch, device), target_key)
        group = group_size(i)
        last_of_group = (i % accumulate) + 1 == group
        no_sync = model.no_sync() if isinstance(model, DistributedDataParallel) and not last_of_group else None
        with no_sync or contextlib.nullcontext():
            with autocast(device, precision):
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
            if i % accumulate == 0:
                optimizer.zero_grad(set_to_none=True)
            scaled = loss / group if group > 1 else loss
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if last_of_group:
            _optimizer_step(model, optimizer, scaler, grad_clip)
            if scheduler is not None:
                scheduler.step()
        losses.append(loss.detach())
        sizes.append(len(targets if isinstance(targets, Tensor) else next(iter(targets.values()))))
        outputs_seen.append(_detach(outputs, float32=precision != "fp32"))
        targets_seen.append(_detach(targets))
    if not losses:
        raise ValueError("the training loader yielded no batches")
    if not last_of_group:  # a loader without len(): its short last group still gets its step
        _optimizer_step(model, optimizer, scaler, grad_clip)
        if scheduler is not None:
            scheduler.step()
    return _epoch_numbers(losses, sizes, outputs_seen, targets_seen, score_fn, _dataset_length(loader))


def _optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                    grad_clip: float | None) -> None:
    """Clip (the unscaled gradients) and step; a scaler skips the step when a gradient overflowed."""
    if scaler is not None and grad_clip is not None:
        scaler.unscale_(optimizer)
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _epoch_numbers(losses: list[Tensor], sizes: list[int], outputs_seen: list[Outputs], targets_seen: list[Outputs],
                   score_fn: Callable, total: int | None) -> dict[str, float]:
    """The epoch's mean loss and score: the one place where the host reads the device."""
    values = torch.stack(losses).float().cpu().tolist()  # the host sync of the epoch
    loss_sum = 0.0
    for value, n in zip(values, sizes):  # in step order, as a float64 sum on the host
        loss_sum += value * n
    count = sum(sizes)
    if distributed.is_distributed():  # every process gets the same totals (a NaN anywhere stops them all)
        reduced = distributed.all_reduce_sum(torch.tensor([loss_sum, count], dtype=torch.float64,
                                                          device=losses[0].device)).tolist()
        loss_sum, count = reduced[0], int(reduced[1])
    if not math.isfinite(loss_sum):
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        where = f" at step {bad + 1} of the epoch" if bad is not None else " on another process"
        raise FloatingPointError(f"the loss became {values[bad] if bad is not None else loss_sum}{where}; "
                                 "lower the learning rate or check the inputs")
    outputs, targets = _gather(_concat(outputs_seen), total), _gather(_concat(targets_seen), total)
    return {"loss": loss_sum / count, "score": score_fn(_detach_cpu(outputs), _detach_cpu(targets))}


@torch.no_grad()
def _collect(model: nn.Module, loader: Iterable[dict], device: torch.device | None, target_key: TargetKey,
             keep: Callable[[Outputs], Outputs], precision: str = "fp32") -> tuple[Outputs, Outputs]:
    """Outputs and targets over a whole loader, each batch passed through ``keep``, concatenated."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs_seen, targets_seen = [], []
    for batch in loader:
        inputs, targets = split_batch(move_to(batch, device), target_key)
        with autocast(device, precision):
            outputs = model(inputs)
        outputs_seen.append(keep(_detach(outputs, float32=True) if precision != "fp32" else outputs))
        targets_seen.append(keep(targets))
    if not outputs_seen:
        raise ValueError("the loader yielded no batches")
    return _concat(outputs_seen), _concat(targets_seen)


def predict(model: nn.Module, loader: Iterable[dict], device: torch.device | None = None,
            target_key: TargetKey = "label") -> tuple[Outputs, Outputs]:
    """Model outputs and targets over a whole loader, concatenated on the CPU."""
    return _collect(model, loader, device, target_key, keep=_detach_cpu)


def evaluate(model: nn.Module, loader: Iterable[dict], loss_fn: Callable, device: torch.device | None = None,
             target_key: TargetKey = "label", score_fn: Callable = accuracy, *,
             precision: str = "fp32") -> dict[str, float]:
    """Mean ``loss`` and ``score`` of the model on ``loader`` (no gradients).

    The loss is computed on the model's device over the whole loader at once (so class weights
    on the GPU work and a weighted loss is normalised over all samples); the score on the CPU.
    In a process group, with ``loader`` sharded by a DistributedSampler, every process
    scores its share and the outputs of all processes are gathered back into the data's order,
    so every process returns the numbers of the whole loader.
    """
    outputs, targets = _collect(model, loader, device, target_key, keep=lambda x: x, precision=precision)
    total = _dataset_length(loader)
    if total is not None:
        outputs, targets = _gather(outputs, total), _gather(targets, total)
    return {"loss": loss_fn(outputs, targets).item(), "score": score_fn(_detach_cpu(outputs), _detach_cpu(targets))}


def save_checkpoint(model: nn.Module, path: str | Path, **info: float | int) -> None:
    """Save the model's weights and some numbers (epoch, score) to ``path``.

    The file is written under a temporary name in the same folder and then renamed
    (``os.replace``), so ``path`` always holds a whole checkpoint, even if writing is interrupted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: os.replace is atomic
    try:
        torch.save({"model": model.state_dict(), **info}, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_checkpoint(model: nn.Module, path: str | Path, device: torch.device | str = "cpu") -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the stored numbers.

    ``weights_only=True`` refuses to unpickle arbitrary objects, so a checkpoint
    from elsewhere cannot run code when it is loaded.
    """
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state.pop("model"))
    return state


def log_device_use(device: torch.device | str) -> None:
    """Append the device type that trains a model to the file named by ``COURSE_DEVICE_LOG``.

    Unset (the default) it does nothing; the GPU test run (``.ci/run_gpu``) sets it to check
    that every notebook trained its models on the GPU.
    """
    path = os.environ.get("COURSE_DEVICE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{torch.device(device).type}\n")


def fit(model: nn.Module, train_loader: Iterable[dict], *, val_loader: Iterable[dict], loss_fn: Callable,
        optimizer: torch.optim.Optimizer, epochs: int, device: torch.device | None = None,
        target_key: TargetKey = "label", score_fn: Callable = accuracy, patience: int | None = None,
        checkpoint_path: str | Path | None = None, scheduler: LRScheduler | ReduceLROnPlateau | None = None,
        grad_clip: float | None = None, progress: bool = True, scheduler_interval: str = "epoch",
        precision: str = "fp32", compile: bool = False, accumulate: int = 1) -> FitResult:
    """Train ``model`` for up to ``epochs`` epochs, keeping the weights of the best validation score.

    After every epoch the model is scored on ``val_loader`` (higher is better); a score that
    is not a finite number (NaN, inf) is an error, as no epoch could be compared with it. The
    best weights are kept (and saved to ``checkpoint_path`` when one is given) and loaded back
    into ``model`` at the end. With ``patience`` set, training stops after that many
    epochs without improvement (early stopping). ``history`` holds ``train_loss``,
    ``train_score``, ``val_loss``, ``val_score`` and ``seconds`` per epoch.

    ``scheduler`` steps once per epoch after validation (``scheduler_interval="epoch"``) or
    after every optimizer step (``"step"``, e.g. ``OneCycleLR``). A ``ReduceLROnPlateau``
    steps per epoch with the validation score, so it must be built with ``mode="max"``.

    At scale (every option off by default; the defaults give the numbers of a plain loop):

    - ``precision="bf16"`` or ``"fp16"`` runs the forward pass and the loss under
      ``torch.autocast``; the weights and the optimizer stay in float32. ``"fp16"`` adds a
      ``GradScaler`` (float16's narrow range would flush small gradients to zero).
    - ``compile=True`` trains through ``torch.compile(model)`` (validation runs eagerly).
    - ``accumulate=k`` sums the gradients of k batches before each optimizer step.
    - Under ``torchrun --nproc_per_node=N`` (or in a process group you set up) the model is
      wrapped in ``DistributedDataParallel`` (batch norm made ``SyncBatchNorm`` on CUDA GPUs), a
      ``DataLoader`` is re-sharded with a ``DistributedSampler`` (its ``batch_size`` is per
      process: the global batch is N times larger), the metrics are those of all processes,
      and only rank 0 draws progress bars and writes the checkpoint. On GPUs each process
      takes ``cuda:LOCAL_RANK``; the learning rate is yours to scale with the global batch.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(f"scheduler_interval must be one of {SCHEDULER_INTERVALS}, got {scheduler_interval!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(f"accumulate must be an int >= 1, got {accumulate!r}")
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if plateau and (scheduler_interval != "epoch" or scheduler.mode != "max"):
        raise ValueError("a ReduceLROnPlateau scheduler steps once per epoch on the validation score (higher is "
                         f"better): build it with mode='max' and use scheduler_interval='epoch', got "
                         f"mode={scheduler.mode!r}, scheduler_interval={scheduler_interval!r}")
    step_scheduler = scheduler if scheduler_interval == "step" else None
    device = distributed.setup(torch.device(device) if device is not None else get_device())
    model.to(device)
    main = distributed.is_main_process()
    if main:
        log_device_use(device)
    runner, train_loader, val_loader = _prepare_to_scale(model, train_loader, val_loader, device, compile)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    result = FitResult(history={k: [] for k in ("train_loss", "train_score", "val_loss", "val_score", "seconds")})
    best_state = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress or not main)
    for epoch in bar:
        epoch_start = time.perf_counter()
        if isinstance(getattr(train_loader, "sampler", None), DistributedSampler):
            train_loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process
        train = train_one_epoch(runner, train_loader, loss_fn, optimizer, device, target_key, score_fn, grad_clip,
                                step_scheduler, precision=precision, scaler=scaler, accumulate=accumulate)
        val = evaluate(model, val_loader, loss_fn, device, target_key, score_fn, precision=precision)
        if not math.isfinite(val["score"]):
            raise ValueError(f"epoch {epoch}: the validation score is {val['score']}; score_fn must return a "
                             "finite number (higher is better) to pick the best epoch")
        if scheduler is not None and scheduler_interval == "epoch":
            if plateau:
                scheduler.step(val["score"])
            else:
                scheduler.step()
        for split, numbers in (("train", train), ("val", val)):
            for name, value in numbers.items():
                result.history[f"{split}_{name}"].append(value)
        result.history["seconds"].append(time.perf_counter() - epoch_start)
        if val["score"] > result.best_score:
            result.best_score, result.best_epoch = val["score"], epoch
            best_state = copy.deepcopy(model.state_dict())
            if checkpoint_path is not None and main:
                save_checkpoint(model, checkpoint_path, epoch=epoch, score=val["score"])
        bar.set_postfix(train_loss=f"{train['loss']:.3f}", val_score=f"{val['score']:.3f}",
                        best=f"{result.best_score:.3f}")
        if patience is not None and epoch - result.best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    distributed.barrier()  # the checkpoint is on disk before any process goes on to load it
    result.seconds = time.perf_counter() - start
    return result


def _prepare_to_scale(model: nn.Module, train_loader: Iterable[dict], val_loader: Iterable[dict],
                      device: torch.device, compile: bool) -> tuple[nn.Module, Iterable[dict], Iterable[dict]]:
    """What trains (``model``, wrapped for data parallelism and compiled as asked) and the loaders it reads.

    In a process group: batch norm becomes SyncBatchNorm on CUDA GPUs (PyTorch's SyncBatchNorm
    does not run on the CPU, where each process keeps its own batch statistics), the model is wrapped in
    DistributedDataParallel, and both DataLoaders are sharded (a loader that is not a
    ``DataLoader`` is read whole by every process).
    """
    runner = model
    if distributed.is_distributed():
        if device.type == "cuda":
            nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the layers in place, same parameters
        runner = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if not isinstance(train_loader, DataLoader):
            raise TypeError("fit under torchrun needs a torch DataLoader as train_loader, to give each process its "
                            f"share of the data; got {type(train_loader).__name__}")
        train_loader = distributed.shard_loader(train_loader)
        if isinstance(val_loader, DataLoader):
            val_loader = distributed.shard_loader(val_loader)
    if compile:
        runner = torch.compile(runner)
    return runner, train_loader, val_loader
