"""The course's model shape: one encoder per modality, one fusion module, one head.

    model = MultimodalModel(
        encoders={"image": ImageEncoder(out_dim=32), "audio": AudioEncoder(out_dim=32)},
        fusion=make_fusion("gated", {"image": 32, "audio": 32}, out_dim=64),
        head=make_head(64, num_classes=10),
    )
    logits = model(batch)   # batch: {"image": (B, 1, 28, 28), "audio": (B, 64, T), "label": ...}

A unimodal baseline is the same class with one encoder (``unimodal_model``), so
baselines and fusion models share one code path.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from course_lib.models.checks import require_weights, select_modalities
from course_lib.models.fusion_basic import ConcatFusion


class MultimodalModel(nn.Module):
    """{modality: input tensor} -> encoders -> fusion -> head -> logits (B, num_classes).

    Only the modalities that have an encoder are read; other keys of the input dict
    (labels, masks, ids) are ignored. A missing modality is an error.
    """

    def __init__(
        self, encoders: Mapping[str, nn.Module], fusion: nn.Module, head: nn.Module
    ) -> None:
        super().__init__()
        if len(encoders) == 0:
            raise ValueError("MultimodalModel: encoders must hold at least one modality")
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.head = head
        self.modalities = tuple(encoders)
        self._check_wiring()

    def _check_wiring(self) -> None:
        """Compare the encoders with the fusion's ``dims`` when the fusion module has them."""
        dims = getattr(self.fusion, "dims", None)
        if dims is None:
            return
        if set(dims) != set(self.modalities):
            raise ValueError(
                f"MultimodalModel: the fusion module expects modalities {list(dims)}, "
                f"but there are encoders for {list(self.modalities)}"
            )
        for modality, encoder in self.encoders.items():
            out_dim = getattr(encoder, "out_dim", None)
            if out_dim is not None and out_dim != dims[modality]:
                raise ValueError(
                    f"MultimodalModel: the {modality!r} encoder outputs (B, {out_dim}), "
                    f"but the fusion module expects dims[{modality!r}] = {dims[modality]}"
                )

    def encode(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{modality: input} -> {modality: embedding (B, D_m)} for each encoder's modality."""
        selected = select_modalities(inputs, self.modalities, "MultimodalModel")
        return {m: self.encoders[m](x) for m, x in selected.items()}

    def forward(self, inputs: Mapping[str, Tensor],
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """{modality: input, ...} -> logits (B, num_classes).

        With ``return_weights=True`` also returns the fusion module's weights, e.g. the
        gate of ``GatedFusion`` (B, M), for a fusion module that has them (it takes
        ``return_weights`` too); other fusion modules raise a ``TypeError``.
        """
        if not return_weights:
            return self.head(self.fusion(self.encode(inputs)))
        require_weights(self.fusion, "MultimodalModel")
        fused, weights = self.fusion(self.encode(inputs), return_weights=True)
        return self.head(fused), weights


def make_head(
    in_dim: int, num_classes: int, hidden: int | None = None, dropout: float = 0.0
) -> nn.Module:
    """Classifier (B, in_dim) -> (B, num_classes).

    Linear by default; with ``hidden``, Linear-ReLU-(Dropout if ``dropout`` > 0)-Linear.
    """
    if hidden is None:
        return nn.Linear(in_dim, num_classes)
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden), nn.ReLU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def unimodal_model(
    modality: str,
    encoder: nn.Module,
    num_classes: int,
    hidden: int | None = None,
    dropout: float = 0.0,
) -> MultimodalModel:
    """A one-modality MultimodalModel: the encoder, a pass-through fusion, ``make_head``.

    ``encoder`` must expose ``out_dim``, as the course's encoders do.
    """
    fusion = ConcatFusion({modality: encoder.out_dim})
    head = make_head(fusion.out_dim, num_classes, hidden, dropout)
    return MultimodalModel({modality: encoder}, fusion, head)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values in ``module`` (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
