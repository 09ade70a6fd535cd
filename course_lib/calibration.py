"""Calibration of a classifier: does a confidence of 0.8 mean right 80 % of the time?

    bins = reliability_bins(probs, labels, n_bins=15)         # for a reliability diagram
    ece = expected_calibration_error(probs, labels)           # one number, 0 = calibrated
    scaler = TemperatureScaler().fit(val_logits, val_labels)  # one parameter, fitted on validation
    calibrated = torch.softmax(scaler(test_logits), dim=1)

``probs`` are class probabilities (N, C) whose rows sum to one, ``labels`` the true
classes (N,). A sample's confidence is its largest probability; it is correct when
that class is the label. Confidences are grouped into ``n_bins`` equal-width bins
(lo, hi] of [0, 1] (the first bin also holds 0), as ``sklearn.calibration.calibration_curve``
does with ``strategy="uniform"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.models.checks import check_shape


def _check_probs(probs: Tensor, labels: Tensor, n_bins: int) -> None:
    check_shape(probs, "probs", ("N", "C"))
    check_shape(labels, "labels", (len(probs),))
    if len(probs) == 0:
        raise ValueError("probs must hold at least one sample, got shape (0, C)")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    if not probs.is_floating_point():
        raise ValueError(f"probs must be a float tensor of probabilities, got {probs.dtype}; pass softmax(logits)")
    # rounding each probability to the dtype moves a row's sum by at most eps / 2 (float16: 5e-4)
    atol = max(1e-4, torch.finfo(probs.dtype).eps)
    row_error = (probs.double().sum(dim=1) - 1).abs().max()
    if not (probs.min() >= 0 and probs.max() <= 1 and row_error <= atol):  # NaN fails too
        raise ValueError(f"probs must be probabilities in [0, 1] whose rows sum to 1 (within {atol:.0e}), got values "
                         f"from {probs.min().item():.3g} to {probs.max().item():.3g} and a row sum off by "
                         f"{row_error.item():.3g}; pass softmax(logits)")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must be integer classes in [0, {probs.shape[1]}), got {labels.dtype} "
                         f"values from {labels.min().item()} to {labels.max().item()}")


@dataclass
class ReliabilityBins:
    """Per-bin numbers of a reliability diagram, each (n_bins,) on the device of ``probs``.

    Empty bins have count 0 and NaN means.
    """

    edges: Tensor  # (n_bins + 1,) bin edges from 0 to 1
    confidence: Tensor  # mean confidence of the samples in each bin
    accuracy: Tensor  # fraction of those samples that are correct
    count: Tensor  # samples in each bin


@torch.no_grad()
def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = 15) -> ReliabilityBins:
    """probs (N, C), labels (N,) -> mean confidence, accuracy and count of each confidence bin."""
    _check_probs(probs, labels, n_bins)
    confidence, predicted = probs.double().max(dim=1)  # (N,), (N,)
    correct = (predicted == labels.to(probs.device)).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=probs.device)
    index = torch.bucketize(confidence, edges[1:-1])  # (N,) bin of each sample: (lo, hi]
    count = torch.bincount(index, minlength=n_bins).double()
    sum_confidence = torch.bincount(index, weights=confidence, minlength=n_bins)
    sum_correct = torch.bincount(index, weights=correct, minlength=n_bins)
    return ReliabilityBins(edges, sum_confidence / count, sum_correct / count, count.long())


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """ECE = sum over bins of (n_b / N) * |accuracy_b - confidence_b|, for probs (N, C) and labels (N,)."""
    bins = reliability_bins(probs, labels, n_bins)
    filled = bins.count > 0
    gaps = (bins.accuracy[filled] - bins.confidence[filled]).abs()
    weights = bins.count[filled].double() / bins.count.sum()  # n_b / N
    return float((weights * gaps).sum())


class TemperatureScaler(nn.Module):
    """Divide logits (N, C) by one learned temperature T > 0 (Guo et al., 2017).

    T > 1 softens overconfident probabilities, T < 1 sharpens them; the argmax, and so the
    accuracy, never changes. ``fit`` minimises the negative log-likelihood on held-out
    logits with L-BFGS. T is stored as its logarithm so that it stays positive. ``fit`` moves
    the scaler to the logits' device; ``forward`` accepts logits on any device.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    @property
    def temperature(self) -> float:
        """The current temperature T."""
        return float(self.log_temperature.detach().exp())

    def forward(self, logits: Tensor) -> Tensor:
        """(N, C) -> (N, C) logits / T."""
        check_shape(logits, "TemperatureScaler: logits", ("N", "C"))
        return logits / self.log_temperature.exp().to(logits.device)

    def fit(self, logits: Tensor, labels: Tensor, max_iter: int = 100) -> TemperatureScaler:
        """Set T to minimise cross-entropy(logits / T, labels) on (N, C) logits and (N,) labels; returns self."""
        check_shape(logits, "TemperatureScaler: logits", ("N", "C"))
        check_shape(labels, "TemperatureScaler: labels", (len(logits),))
        logits, labels = logits.detach().float(), labels.detach().to(logits.device)
        self.to(logits.device)
        optimizer = torch.optim.LBFGS([self.log_temperature], lr=1.0, max_iter=max_iter,
                                      line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(self(logits), labels)
            loss.backward()
            return loss

        optimizer.step(closure)
        return self


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The temperature T that minimises the NLL of logits (N, C) / T on labels (N,)."""
    return TemperatureScaler().fit(logits, labels).temperature
