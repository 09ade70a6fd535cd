"""Fusion of two (or more) sequences: late pooled fusion and attention over time.

Each modality arrives as a sequence of feature vectors ``{modality: (B, T_m, D_m)}``,
e.g. 16 video frames and 128 audio frames of the same 2-second clip. The sequences may
have different lengths and rates; an optional boolean mask ``{modality: (B, T_m)}``
marks the valid steps (True) of padded sequences.

- ``LateTemporalFusion``: average each sequence over its valid steps, then concatenate
  the averages: ``(B, sum_m D_m)``.
- ``AlignedConcatFusion``: resample the sequences to one length and concatenate them step by
  step, ``(B, T, sum_m D_m)``, for a temporal model that compares the modalities moment by moment.
- ``TemporalAttentionFusion``: project every step of every modality to one width, add a
  code of *when* the step happens in the clip (so that steps of the two modalities at the
  same moment look alike) and of which modality it is, then let learned queries attend
  over the concatenated steps of all modalities. Each query's weights over all the steps
  sum to one, so they show which moments of which modality the model reads.

    fusion = TemporalAttentionFusion({"video": 64, "audio": 64}, dim=64)
    fused, weights = fusion({"video": v, "audio": a}, return_weights=True)
    fused.shape                      # (B, 64)
    weights["video"].shape           # (B, 16): with weights["audio"], sums to 1 per clip
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from course_lib.models.checks import can_read_values, check_dims, format_shape

Masks = Mapping[str, Tensor] | None


def check_sequences(sequences: Mapping[str, Tensor], dims: Mapping[str, int], owner: str,
                    masks: Masks = None) -> tuple[list[Tensor], list[Tensor]]:
    """Check ``{modality: (B, T_m, D_m)}`` against ``dims`` (and the masks); return tensors and masks.

    The lists follow the order of ``dims``; a modality without a mask gets an all-True
    ``(B, T_m)`` mask. Raises a ValueError that names the modality, the expected and the
    actual shape.
    """
    if not isinstance(sequences, Mapping):
        raise TypeError(f"{owner}: expects a dict {{modality: (B, T, D) tensor}}, got {type(sequences).__name__}")
    if set(sequences) != set(dims):
        raise ValueError(f"{owner}: expected exactly the modalities {list(dims)}, got {list(sequences)}")
    masks = dict(masks or {})
    unknown = [m for m in masks if m not in dims]
    if unknown:
        raise ValueError(f"{owner}: mask for unknown modality {unknown[0]!r}; the modalities are {list(dims)}")
    tensors, valid = [], []
    batch = None
    for modality, size in dims.items():
        x = sequences[modality]
        if not isinstance(x, Tensor):
            raise TypeError(f"{owner}: sequences[{modality!r}] must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[2] != size or x.shape[1] == 0:
            raise ValueError(f"{owner}: sequences[{modality!r}] must have shape (B, T, {size}) with T >= 1, "
                             f"got {format_shape(tuple(x.shape))}")
        batch = x.shape[0] if batch is None else batch
        if x.shape[0] != batch:
            raise ValueError(f"{owner}: sequences[{modality!r}] has batch size {x.shape[0]}, expected {batch}")
        mask = masks.get(modality)
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        elif mask.dtype != torch.bool or mask.shape != x.shape[:2]:
            raise ValueError(f"{owner}: masks[{modality!r}] must be a bool tensor of shape "
                             f"{format_shape(tuple(x.shape[:2]))}, got {mask.dtype} {format_shape(tuple(mask.shape))}")
        tensors.append(x)
        valid.append(mask)
    return tensors, valid


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over the valid steps: ``(B, T, D)`` and bool ``(B, T)`` -> ``(B, D)``.

    A sequence with no valid step gives zeros.
    """
    weights = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def time_code(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Sinusoidal code of where each of ``length`` steps sits in the clip: ``(length, dim)``.

    Step ``t`` of a sequence of ``length`` steps covers the clip fraction ``(t + 0.5) / length``,
    so a video frame and the audio frames recorded at the same moment get nearly the same
    code, whatever the two frame rates. Frequencies go from one to ``dim / 2`` cycles per clip.
    """
    position = (torch.arange(length, device=device, dtype=torch.float32) + 0.5) / length  # (T,)
    cycles = torch.arange(1, dim // 2 + 1, device=device, dtype=torch.float32)  # (dim/2,)
    angles = 2 * math.pi * position[:, None] * cycles[None, :]  # (T, dim/2)
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    return nn.functional.pad(code, (0, dim - code.shape[1]))  # odd dim: one zero column


class LateTemporalFusion(nn.Module):
    """Pool each sequence over time, then concatenate: ``{m: (B, T_m, D_m)}`` -> ``(B, sum_m D_m)``.

    The pooling is the mean over valid steps (``masks``), so padding never counts.
    """

    def __init__(self, dims: Mapping[str, int]) -> None:
        super().__init__()
        self.dims = check_dims(dims, "LateTemporalFusion")
        self.out_dim = sum(self.dims.values())

    def forward(self, sequences: Mapping[str, Tensor], masks: Masks = None) -> Tensor:
        """{modality: (B, T_m, D_m)} (and optional bool masks (B, T_m)) -> (B, sum_m D_m)."""
        tensors, valid = check_sequences(sequences, self.dims, "LateTemporalFusion", masks)
        return torch.cat([masked_mean(x, mask) for x, mask in zip(tensors, valid)], dim=1)


class TemporalAttentionFusion(nn.Module):
    """Learned queries attend over the time steps of all modalities at once.

    Every step of modality ``m`` is projected to ``dim`` (``Linear(D_m, dim)``), then a
    modality embedding and the step's :func:`time_code` are added. Each of the
    ``num_queries`` learned queries scores every valid step (scaled dot product), a
    softmax over the concatenated steps of *all* modalities turns the scores into weights
    that sum to one, and the weighted sum of the projected steps is that query's output.

    Args:
        dims: ``{modality: D_m}`` features per step of each modality.
        dim: width of the projected steps and of each query's output.
        num_queries: learned queries; the output concatenates theirs: ``(B, num_queries * dim)``.
        time_codes: add the time-in-clip code to every step.
    """

    def __init__(self, dims: Mapping[str, int], dim: int = 64, num_queries: int = 1,
                 time_codes: bool = True) -> None:
        super().__init__()
        self.dims = check_dims(dims, "TemporalAttentionFusion")
        if dim < 2 or num_queries < 1:
            raise ValueError(f"TemporalAttentionFusion: dim must be >= 2 and num_queries >= 1, "
                             f"got dim={dim}, num_queries={num_queries}")
        self.dim, self.num_queries, self.time_codes = dim, num_queries, time_codes
        self.out_dim = dim * num_queries
        self.project = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.dims.items()})
        self.modality_embedding = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in self.dims})
        self.queries = nn.Parameter(torch.randn(num_queries, dim) / math.sqrt(dim))
        self.keys = nn.Linear(dim, dim, bias=False)

    def steps(self, sequences: Mapping[str, Tensor], masks: Masks = None) -> tuple[Tensor, Tensor, list[int]]:
        """Projected steps of all modalities ``(B, sum_m T_m, dim)``, their mask and each ``T_m``."""
        tensors, valid = check_sequences(sequences, self.dims, "TemporalAttentionFusion", masks)
        projected = []
        for modality, x in zip(self.dims, tensors):
            step = self.project[modality](x) + self.modality_embedding[modality]
            if self.time_codes:
                step = step + time_code(x.shape[1], self.dim, x.device).to(step.dtype)
            projected.append(step)
        return torch.cat(projected, dim=1), torch.cat(valid, dim=1), [x.shape[1] for x in tensors]

    def forward(self, sequences: Mapping[str, Tensor], masks: Masks = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """{modality: (B, T_m, D_m)} -> (B, num_queries * dim).

        With ``return_weights=True`` also returns ``{modality: (B, num_queries, T_m)}``
        attention weights (squeezed to ``(B, T_m)`` for one query); for each clip and
        query they sum to one over all the modalities' steps together. Masked steps get
        weight zero; a clip must keep at least one valid step (checked in eager mode only,
        see :func:`can_read_values`).
        """
        values, valid, lengths = self.steps(sequences, masks)  # (B, S, dim), (B, S)
        if can_read_values() and not valid.any(dim=1).all():
            raise ValueError("TemporalAttentionFusion: every clip needs at least one valid step, "
                             "but a clip's masks are all False")
        scores = torch.einsum("qd,bsd->bqs", self.queries, self.keys(values)) / math.sqrt(self.dim)
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, Q, S), sums to 1 over S
        fused = torch.einsum("bqs,bsd->bqd", weights, values).flatten(1)  # (B, Q * dim)
        if not return_weights:
            return fused
        per_modality = weights.split(lengths, dim=-1)
        if self.num_queries == 1:
            per_modality = [w.squeeze(1) for w in per_modality]
        return fused, dict(zip(self.dims, per_modality))


class AlignedConcatFusion(nn.Module):
    """Step-by-step fusion: resample every sequence to one length, concatenate per step.

    ``{m: (B, T_m, D_m)}`` -> ``(B, T, sum_m D_m)`` with ``T`` the first modality's ``T_m``. Longer
    sequences are averaged down (``F.adaptive_avg_pool1d``), so
    step ``t`` of every modality covers the same moment of the clip; a temporal model after
    it can then compare the modalities moment by moment (audio-visual synchrony).
    """

    def __init__(self, dims: Mapping[str, int]) -> None:
        super().__init__()
        self.dims = check_dims(dims, "AlignedConcatFusion")
        self.out_dim = sum(self.dims.values())

    def forward(self, sequences: Mapping[str, Tensor]) -> Tensor:
        """{modality: (B, T_m, D_m)} -> (B, T, sum_m D_m)."""
        tensors, _ = check_sequences(sequences, self.dims, "AlignedConcatFusion")
        length = tensors[0].shape[1]
        aligned = [nn.functional.adaptive_avg_pool1d(x.transpose(1, 2), length).transpose(1, 2) for x in tensors]
        return torch.cat(aligned, dim=-1)
