"""What every recipe returns, and per-group scores for its table rows."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from course_lib.train import FitResult


@dataclass
class MethodResult:
    """A trained method: the model (best validation epoch), its ``fit`` history and its table ``row``."""

    model: nn.Module
    fit: FitResult
    row: dict


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
