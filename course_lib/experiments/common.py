"""What every recipe returns, the AdamW-and-cosine training recipe they share, a cache of trained
weights, and per-group scores."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from course_lib import config
from course_lib.train import FitResult, fit


@dataclass
class MethodResult:
    """A trained method: the model (best validation epoch), its ``fit`` history and its table ``row``."""

    model: nn.Module
    fit: FitResult
    row: dict


def cached_method(folder: str, settings: dict[str, Any], build: Callable[[], nn.Module],
                  train: Callable[[nn.Module], tuple[FitResult, dict]], *, device: torch.device | str,
                  retrain: bool = False) -> MethodResult:
    """Train once, then load: a ``MethodResult`` kept in ``artifacts/<folder>/`` under a name made of ``settings``.

    ``build()`` makes the untrained model; ``train(model)`` trains it in place and returns its
    ``FitResult`` and table row. When a file for the same ``settings`` (a JSON-able dict: every
    choice that changes the result) exists and ``retrain`` is False, the model gets its weights
    and the history and row come from the file, so nothing is trained. A new file is written
    to a temporary name and renamed, so an interrupted run leaves no half-written weights.
    """
    key = json.dumps(settings, sort_keys=True)
    name = f"{settings.get('method', 'model')}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    path = config.artifacts_dir() / folder / name
    model = build()
    if path.exists() and not retrain:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["settings"] != settings:
            raise ValueError(f"{path} holds a model trained with {saved['settings']}, not {settings}; "
                             "delete it or retrain")
        model.load_state_dict(saved["state_dict"])
        return MethodResult(model.to(device), FitResult(**saved["fit"]), saved["row"])
    result, row = train(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key_: value.detach().cpu() for key_, value in model.state_dict().items()}
    partial = path.with_suffix(".partial")
    try:
        torch.save({"settings": settings, "state_dict": state, "fit": asdict(result), "row": row}, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return MethodResult(model, result, row)


def fit_adamw_cosine(model: nn.Module, train_loader: Iterable[dict], val_loader: Iterable[dict], *, epochs: int,
                     lr: float, device: torch.device, progress: bool = False, **fit_options: Any) -> FitResult:
    """Train with ``fit``: AdamW (weight decay 1e-4) and a cosine schedule over ``epochs``; the best
    validation epoch is kept. ``fit_options`` (``loss_fn``, ``score_fn``, ``target_key``, ``grad_clip``...) go to ``fit``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    return fit(model, train_loader, val_loader=val_loader, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
               device=device, progress=progress, **fit_options)


def group_accuracy(correct: Tensor, groups: Tensor, names: Sequence[str], prefix: str = "") -> dict[str, float]:
    """Accuracy within each group: ``correct`` (N,) bool, ``groups`` (N,) int codes into ``names``.

    Returns ``{prefix + names[code]: accuracy}`` for every group that has at least one item;
    a group with none is left out (its accuracy is undefined, not 0 and not NaN).
    """
    if correct.shape != groups.shape:
        raise ValueError(f"group_accuracy: correct {tuple(correct.shape)} and groups {tuple(groups.shape)} "
                         "must have the same shape")
    scores = {}
    for code, name in enumerate(names):
        members = groups == code
        if members.any():
            scores[prefix + name] = correct[members].float().mean().item()
    return scores
