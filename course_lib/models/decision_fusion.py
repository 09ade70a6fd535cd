"""Late fusion of decisions: combine the class probabilities of models trained separately.

    fusion = DecisionFusion({"image": image_model, "audio": audio_model})   # averaged probabilities
    log_probs = fusion(batch)                                                # (B, C)
    fusion.set_weights(fit_decision_weights(val_log_probs, val_labels))      # weights fit on validation

Each model maps the batch to logits (B, C) and reads its own modality from it; a softmax turns
them into that modality's class probabilities p_m. With weights w_m >= 0 that sum to one:

- ``rule="mean"``: p = sum_m w_m p_m (with equal weights: the averaged probabilities);
- ``rule="product"``: p proportional to prod_m p_m ** w_m (a weighted geometric mean).

The output is log p, so argmax, cross-entropy and the course's metrics read it like logits.
Unlike ``LateFusion`` (per-modality classifiers on embeddings, trained together through their
averaged logits), the models here are trained on their own and only their decisions meet.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from course_lib.models.checks import check_shape, normalised_weights

RULES = ("mean", "product")


def _check_rule(rule: str, owner: str) -> None:
    if rule not in RULES:
        raise ValueError(f"{owner}: rule must be one of {RULES}, got {rule!r}")


def combine_log_probabilities(log_probs: Mapping[str, Tensor], weights: Tensor, rule: str = "mean") -> Tensor:
    """{modality: log p_m (B, C)} and weights (M,) in the dict's order -> log of the combined p (B, C)."""
    _check_rule(rule, "combine_log_probabilities")
    tensors = list(log_probs.values())
    if not tensors:
        raise ValueError("combine_log_probabilities: log_probs holds no modality")
    first = next(iter(log_probs))
    for modality, x in log_probs.items():
        check_shape(x, f"combine_log_probabilities: log_probs[{modality!r}]", tuple(tensors[0].shape))
    if weights.shape != (len(tensors),):
        raise ValueError(f"combine_log_probabilities: weights must have shape ({len(tensors)},) "
                         f"(one per modality, from {first!r} on), got {tuple(weights.shape)}")
    stacked = torch.stack(tensors)  # (M, B, C)
    w = weights.to(stacked)[:, None, None]
    if rule == "mean":
        return torch.logsumexp(stacked + torch.log(w), dim=0)  # log sum_m w_m p_m, in log space
    return torch.log_softmax((w * stacked).sum(dim=0), dim=1)  # log of the normalised prod_m p_m ** w_m


class DecisionFusion(nn.Module):
    """{modality: model} trained separately -> log of their combined class probabilities (B, C).

    ``weights`` (e.g. ``{"image": 0.6, "audio": 0.4}``) are normalised to sum to one; the default
    is equal weights. ``rule`` is ``"mean"`` (weighted mean of the probabilities) or ``"product"``
    (weighted geometric mean, renormalised). The weights are a buffer, not a parameter: set them
    with ``set_weights``, e.g. to the ones ``fit_decision_weights`` finds on a validation split.
    """

    def __init__(self, models: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None,
                 rule: str = "mean") -> None:
        super().__init__()
        if not isinstance(models, Mapping) or len(models) == 0:
            raise ValueError("DecisionFusion: models must be a non-empty dict {modality: model}")
        _check_rule(rule, "DecisionFusion")
        self.models = nn.ModuleDict(dict(models))
        self.modalities = tuple(models)
        self.rule = rule
        self.register_buffer("weights", torch.tensor(normalised_weights(weights, self.modalities, "DecisionFusion")))

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Replace the weights (normalised to sum to one)."""
        self.weights.copy_(torch.tensor(normalised_weights(weights, self.modalities, "DecisionFusion")))

    def modality_weights(self) -> dict[str, float]:
        """The current weight of each modality (they sum to one)."""
        return {m: float(w) for m, w in zip(self.modalities, self.weights)}

    def modality_log_probabilities(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The batch -> {modality: log softmax of that modality's model (B, C)}."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"DecisionFusion expects a dict {{modality: tensor}}, got {type(inputs).__name__}")
        return {m: torch.log_softmax(self.models[m](inputs), dim=1) for m in self.modalities}

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The batch -> log of the combined class probabilities (B, C)."""
        return combine_log_probabilities(self.modality_log_probabilities(inputs), self.weights, self.rule)


def fit_decision_weights(log_probs: Mapping[str, Tensor], labels: Tensor, rule: str = "mean",
                         steps: int = 200, lr: float = 0.1) -> dict[str, float]:
    """The weights (>= 0, summing to one) that minimise the cross-entropy of the combination on these samples.

    ``log_probs`` = {modality: log p_m (N, C)} of held-out samples (a validation split), ``labels``
    (N,). The weights are a softmax of M numbers, started equal and fitted by ``steps`` of Adam.
    """
    _check_rule(rule, "fit_decision_weights")
    if not log_probs:
        raise ValueError("fit_decision_weights: log_probs holds no modality")
    tensors = {m: x.detach().float() for m, x in log_probs.items()}
    n = next(iter(tensors.values())).shape[0]
    check_shape(labels, "fit_decision_weights: labels", (n,))
    if steps < 1:
        raise ValueError(f"fit_decision_weights: steps must be >= 1, got {steps}")
    scores = torch.zeros(len(tensors), requires_grad=True)
    optimizer = torch.optim.Adam([scores], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            combined = combine_log_probabilities(tensors, torch.softmax(scores, dim=0), rule)
            nn.functional.nll_loss(combined, labels.long()).backward()
            optimizer.step()
    weights = torch.softmax(scores.detach(), dim=0)
    return {m: float(w) for m, w in zip(tensors, weights)}
