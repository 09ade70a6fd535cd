"""What every recipe returns, the AdamW-and-cosine training recipe they share, and per-group scores."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.train import FitResult, fit


@dataclass
class MethodResult:
    """A trained method: the model (best validation epoch), its ``fit`` history and its table ``row``."""

    model: nn.Module
    fit: FitResult
    row: dict


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
