"""One training loop for the whole course.

Batches are dictionaries: modality tensors (``"image"``, ``"audio"``, ...) plus one or
more target tensors (``"label"``, or ``"digit"`` and ``"motion"`` for multitask). The
model is called with the batch minus its targets and returns logits, or a dict of
logits for multitask models; ``loss_fn(outputs, targets)`` and ``score_fn(outputs,
targets)`` receive the matching tensor or dict. The same code runs on CPU, CUDA and MPS.

``loss_fn`` always sees tensors on the training device (a loss holding class weights
on the GPU works); ``score_fn`` sees outputs and targets concatenated on the CPU.
"""
from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from tqdm.auto import tqdm

from course_lib.config import get_device
from course_lib.metrics import accuracy
from course_lib.models.multimodal import count_parameters

Outputs = Tensor | dict[str, Tensor]
TargetKey = str | Sequence[str]
SCHEDULER_INTERVALS = ("epoch", "step")


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


def train_one_epoch(model: nn.Module, loader: Iterable[dict], loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    device: torch.device, target_key: TargetKey = "label", score_fn: Callable = accuracy,
                    grad_clip: float | None = None, scheduler: LRScheduler | None = None) -> dict[str, float]:
    """One pass over ``loader`` with gradient steps; returns the mean ``loss`` and the ``score``.

    ``scheduler``, when given, steps after every optimizer step (a per-step schedule).
    """
    model.train()
    total_loss, count = 0.0, 0
    outputs_seen, targets_seen = [], []
    for batch in loader:
        inputs, targets = split_batch(move_to(batch, device), target_key)
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()}; lower the learning rate or check the inputs")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = len(targets if isinstance(targets, Tensor) else next(iter(targets.values())))
        total_loss += loss.item() * n
        count += n
        outputs_seen.append(_detach_cpu(outputs))
        targets_seen.append(_detach_cpu(targets))
    if count == 0:
        raise ValueError("the training loader yielded no batches")
    return {"loss": total_loss / count, "score": score_fn(_concat(outputs_seen), _concat(targets_seen))}


@torch.no_grad()
def _collect(model: nn.Module, loader: Iterable[dict], device: torch.device | None, target_key: TargetKey,
             keep: Callable[[Outputs], Outputs]) -> tuple[Outputs, Outputs]:
    """Outputs and targets over a whole loader, each batch passed through ``keep``, concatenated."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs_seen, targets_seen = [], []
    for batch in loader:
        inputs, targets = split_batch(move_to(batch, device), target_key)
        outputs_seen.append(keep(model(inputs)))
        targets_seen.append(keep(targets))
    if not outputs_seen:
        raise ValueError("the loader yielded no batches")
    return _concat(outputs_seen), _concat(targets_seen)


def predict(model: nn.Module, loader: Iterable[dict], device: torch.device | None = None,
            target_key: TargetKey = "label") -> tuple[Outputs, Outputs]:
    """Model outputs and targets over a whole loader, concatenated on the CPU."""
    return _collect(model, loader, device, target_key, keep=_detach_cpu)


def evaluate(model: nn.Module, loader: Iterable[dict], loss_fn: Callable, device: torch.device | None = None,
             target_key: TargetKey = "label", score_fn: Callable = accuracy) -> dict[str, float]:
    """Mean ``loss`` and ``score`` of the model on ``loader`` (no gradients).

    The loss is computed on the model's device over the whole loader at once (so class weights
    on the GPU work and a weighted loss is normalised over all samples); the score on the CPU.
    """
    outputs, targets = _collect(model, loader, device, target_key, keep=lambda x: x)
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
        grad_clip: float | None = None, progress: bool = True, scheduler_interval: str = "epoch") -> FitResult:
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
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(f"scheduler_interval must be one of {SCHEDULER_INTERVALS}, got {scheduler_interval!r}")
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if plateau and (scheduler_interval != "epoch" or scheduler.mode != "max"):
        raise ValueError("a ReduceLROnPlateau scheduler steps once per epoch on the validation score (higher is "
                         f"better): build it with mode='max' and use scheduler_interval='epoch', got "
                         f"mode={scheduler.mode!r}, scheduler_interval={scheduler_interval!r}")
    step_scheduler = scheduler if scheduler_interval == "step" else None
    device = device or get_device()
    model.to(device)
    log_device_use(device)
    result = FitResult(history={k: [] for k in ("train_loss", "train_score", "val_loss", "val_score", "seconds")})
    best_state = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        epoch_start = time.perf_counter()
        train = train_one_epoch(model, train_loader, loss_fn, optimizer, device, target_key, score_fn, grad_clip,
                                step_scheduler)
        val = evaluate(model, val_loader, loss_fn, device, target_key, score_fn)
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
            if checkpoint_path is not None:
                save_checkpoint(model, checkpoint_path, epoch=epoch, score=val["score"])
        bar.set_postfix(train_loss=f"{train['loss']:.3f}", val_score=f"{val['score']:.3f}",
                        best=f"{result.best_score:.3f}")
        if patience is not None and epoch - result.best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result
