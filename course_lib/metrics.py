"""Classification metrics computed from a confusion matrix, on any device.

They match scikit-learn's ``accuracy_score``, ``confusion_matrix`` and
``precision_recall_fscore_support`` (tests check it); they are written in torch so
they run on GPU tensors without a copy and so a learner can read how each is made.

``preds`` are class indices (N,) or scores/logits (N, C) with C >= 2 (argmaxed);
``targets`` are class indices (N,). Anything else (one (N, 1) binary logit, one-hot or
soft targets, float indices) is an error rather than a guess.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _as_labels(values: Tensor, name: str, scores_allowed: bool) -> Tensor:
    """int64 class indices (N,) from indices (N,) or, where ``scores_allowed``, scores (N, C >= 2)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if values.ndim == 2 and scores_allowed:
        if values.shape[1] < 2:
            raise ValueError(f"{name} of shape {tuple(values.shape)} holds one score per sample, which is ambiguous; "
                             f"pass class indices (N,), e.g. (logits[:, 0] > 0).long(), or scores (N, C) with C >= 2")
        return values.argmax(dim=1)
    if values.ndim != 1:
        expected = "(N,) class indices or (N, C) scores" if scores_allowed else "(N,) class indices"
        hint = "" if scores_allowed else "; for one-hot or soft targets pass targets.argmax(dim=1)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(values.shape)}{hint}")
    if values.is_floating_point() or values.is_complex():
        raise ValueError(f"{name} of shape (N,) must hold integer class indices, got dtype {values.dtype}")
    return values.long()  # int64, so that arithmetic on small dtypes (uint8) cannot overflow


def _check_pair(preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    preds = _as_labels(preds, "preds", scores_allowed=True)
    targets = _as_labels(targets, "targets", scores_allowed=False)
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
    """Counts (num_classes, num_classes) int64: row = true class, column = predicted class."""
    preds, targets = _check_pair(preds, targets)
    for name, labels in (("preds", preds), ("targets", targets)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values in "
                             f"[{labels.min().item()}, {labels.max().item()}]")
    flat = targets * num_classes + preds  # int64: no overflow
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def classification_report(preds: Tensor, targets: Tensor, num_classes: int) -> dict[str, Tensor | float]:
    """Per-class and macro-averaged precision, recall and F1, plus accuracy.

    Returns ``{"precision": (C,), "recall": (C,), "f1": (C,), "support": (C,),
    "macro_precision", "macro_recall", "macro_f1", "accuracy"}``. A class that is
    never predicted (or never present) gets 0 for the undefined ratio, as
    scikit-learn does with ``zero_division=0``. The macro averages are over the classes
    that occur in ``preds`` or ``targets``, as scikit-learn's default (``labels=None``):
    a class absent from both says nothing about the classifier and does not count as 0.
    """
    cm = confusion_matrix(preds, targets, num_classes).double()
    true_pos = cm.diag()
    predicted = cm.sum(dim=0)
    support = cm.sum(dim=1)
    precision = torch.where(predicted > 0, true_pos / predicted.clamp(min=1), 0.0)
    recall = torch.where(support > 0, true_pos / support.clamp(min=1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), 0.0)
    seen = (predicted > 0) | (support > 0)  # (C,) classes that occur; at least one, as N >= 1
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.long(),
        "macro_precision": precision[seen].mean().item(),
        "macro_recall": recall[seen].mean().item(),
        "macro_f1": f1[seen].mean().item(),
        "accuracy": (true_pos.sum() / cm.sum()).item(),
    }
