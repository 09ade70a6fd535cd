"""Classification metrics computed from a confusion matrix, on any device.

They match scikit-learn's ``accuracy_score``, ``confusion_matrix`` and
``precision_recall_fscore_support`` (tests check it); they are written in torch so
they run on GPU tensors without a copy and so a learner can read how each is made.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _as_labels(values: Tensor, name: str) -> Tensor:
    """Class indices (N,) from indices (N,) or scores/logits (N, C)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if values.ndim == 2:
        return values.argmax(dim=1)
    if values.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, C), got {tuple(values.shape)}")
    if values.is_floating_point():
        raise ValueError(f"{name} of shape (N,) must hold integer class indices, got dtype {values.dtype}")
    return values


def _check_pair(preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    preds, targets = _as_labels(preds, "preds"), _as_labels(targets, "targets")
    if preds.shape != targets.shape:
        raise ValueError(f"preds and targets must have the same length, got {len(preds)} and {len(targets)}")
    if len(targets) == 0:
        raise ValueError("preds and targets are empty")
    return preds, targets


def accuracy(preds: Tensor, targets: Tensor) -> float:
    """Fraction of correct predictions.

    preds: (N,) class indices or (N, C) logits; targets: (N,) class indices.
    """
    preds, targets = _check_pair(preds, targets)
    return (preds == targets).float().mean().item()


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    preds, targets = _check_pair(preds, targets)
    for name, labels in (("preds", preds), ("targets", targets)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values in "
                             f"[{labels.min().item()}, {labels.max().item()}]")
    flat = targets * num_classes + preds
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def classification_report(preds: Tensor, targets: Tensor, num_classes: int) -> dict[str, Tensor | float]:
    """Per-class and macro-averaged precision, recall and F1, plus accuracy.

    Returns ``{"precision": (C,), "recall": (C,), "f1": (C,), "support": (C,),
    "macro_precision", "macro_recall", "macro_f1", "accuracy"}``. A class that is
    never predicted (or never present) gets 0 for the undefined ratio, as
    scikit-learn does with ``zero_division=0``.
    """
    cm = confusion_matrix(preds, targets, num_classes).double()
    true_pos = cm.diag()
    predicted = cm.sum(dim=0)
    support = cm.sum(dim=1)
    precision = torch.where(predicted > 0, true_pos / predicted.clamp(min=1), 0.0)
    recall = torch.where(support > 0, true_pos / support.clamp(min=1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), 0.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.long(),
        "macro_precision": precision.mean().item(),
        "macro_recall": recall.mean().item(),
        "macro_f1": f1.mean().item(),
        "accuracy": (true_pos.sum() / cm.sum()).item(),
    }
