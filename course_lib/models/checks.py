"""Input checks shared by the encoders and fusion modules.

Every check raises an error that names the argument (usually the modality),
the expected shape and the actual shape, e.g.::

    ValueError: ConcatFusion: features['audio'] must have shape (B, 32), got (8, 31)
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn


def format_shape(shape: Sequence[int | str]) -> str:
    """``(8, 1, 28, 28)`` or ``(B, 1, H, W)``; a one-axis shape prints as ``(8,)``."""
    items = ", ".join(str(size) for size in shape)
    return f"({items},)" if len(shape) == 1 else f"({items})"


def check_shape(x: Tensor, name: str, expected: Sequence[int | str]) -> None:
    """Raise unless ``x`` is a tensor with ``len(expected)`` axes whose int entries match.

    ``expected`` mixes sizes and free symbols: ``("B", 1, "H", "W")`` accepts any
    batch, height and width but exactly one channel.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    matches = x.dim() == len(expected) and all(
        isinstance(want, str) or got == want for got, want in zip(x.shape, expected)
    )
    if not matches:
        raise ValueError(
            f"{name} must have shape {format_shape(expected)}, got {format_shape(tuple(x.shape))}"
        )


def check_dims(dims: Mapping[str, int], owner: str) -> dict[str, int]:
    """Validate ``{modality: embedding size}`` and return it as a plain dict (order kept)."""
    if not isinstance(dims, Mapping) or len(dims) == 0:
        raise ValueError(
            f"{owner}: dims must be a non-empty dict {{modality: size}}, got {dims!r}"
        )
    for modality, size in dims.items():
        if not isinstance(modality, str):
            raise TypeError(f"{owner}: modality names must be str, got {modality!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{owner}: dims[{modality!r}] must be a positive int, got {size!r}")
    return dict(dims)


def check_features(
    features: Mapping[str, Tensor], dims: Mapping[str, int], owner: str
) -> list[Tensor]:
    """Check ``features`` holds exactly the modalities of ``dims``, each ``(B, dims[m])``.

    Returns the tensors in the order of ``dims``, so the caller never depends on
    the order in which the dict was built.
    """
    if not isinstance(features, Mapping):
        raise TypeError(
            f"{owner}: expects a dict {{modality: tensor}}, got {type(features).__name__}"
        )
    expected = list(dims)
    missing = [m for m in expected if m not in features]
    if missing:
        raise ValueError(
            f"{owner}: missing modality {missing[0]!r}; "
            f"expected exactly {expected}, got {list(features)}"
        )
    unexpected = [m for m in features if m not in dims]
    if unexpected:
        raise ValueError(
            f"{owner}: unexpected modality {unexpected[0]!r}; "
            f"expected exactly {expected}, got {list(features)}"
        )
    tensors = []
    for modality in expected:
        x = features[modality]
        check_shape(x, f"{owner}: features[{modality!r}]", ("B", dims[modality]))
        if tensors and x.shape[0] != tensors[0].shape[0]:
            raise ValueError(
                f"{owner}: features[{modality!r}] has batch size {x.shape[0]}, "
                f"but features[{expected[0]!r}] has {tensors[0].shape[0]}"
            )
        tensors.append(x)
    return tensors



def require_weights(fusion: nn.Module, owner: str) -> None:
    """Raise a clear error unless ``fusion.forward`` takes ``return_weights`` (it has weights to show)."""
    if "return_weights" not in inspect.signature(fusion.forward).parameters:
        raise TypeError(f"{owner}: the fusion module {type(fusion).__name__} has no weights to return; "
                        "this needs one that takes return_weights (GatedFusion, TemporalAttentionFusion)")


def select_modalities(inputs: Mapping[str, Tensor], modalities: Sequence[str], owner: str) -> dict[str, Tensor]:
    """``{m: inputs[m] for m in modalities}``, or a clear error: not a dict, or a modality missing.

    Other keys of ``inputs`` (labels, masks) are left out.
    """
    if not isinstance(inputs, Mapping):
        raise TypeError(f"{owner} expects a dict {{modality: tensor}}, got {type(inputs).__name__}")
    missing = [m for m in modalities if m not in inputs]
    if missing:
        raise ValueError(f"{owner}: missing modality {missing[0]!r}; it needs {list(modalities)}, "
                         f"the inputs have {list(inputs)}")
    return {m: inputs[m] for m in modalities}


def can_read_values() -> bool:
    """Whether a check may read tensor values on the host: True in eager mode.

    False while ``torch.compile``, ``torch.export`` or ``torch.jit.trace`` records a forward
    pass, where ``if mask.all():`` would break the graph or fail the export. Value checks
    run only when this is True; shape checks always run.
    """
    return not (torch.compiler.is_compiling() or torch.jit.is_tracing())


def normalised_weights(weights: Mapping[str, float] | None, modalities: Sequence[str], owner: str,
                       positive: bool = False) -> list[float]:
    """Per-modality weights divided by their sum, in the order of ``modalities`` (None: equal weights).

    Each weight must be a finite number >= 0 (> 0 with ``positive``), with at least one above 0,
    and ``weights`` must name exactly ``modalities``.
    """
    if weights is None:
        return [1.0 / len(modalities)] * len(modalities)
    if set(weights) != set(modalities):
        raise ValueError(f"{owner}: weights must have exactly the modalities {list(modalities)}, got {list(weights)}")
    for modality, weight in weights.items():
        valid = isinstance(weight, numbers.Real) and math.isfinite(weight) and (weight > 0 if positive else weight >= 0)
        if not valid:
            wanted = "a positive finite number" if positive else "a finite number >= 0"
            raise ValueError(f"{owner}: weights[{modality!r}] must be {wanted}, got {weight!r}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"{owner}: at least one weight must be positive, got {dict(weights)}")
    return [weights[m] / total for m in modalities]
