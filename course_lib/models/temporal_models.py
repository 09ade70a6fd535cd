"""Models over sequences of two modalities: each encoded step by step, then fused over time.

- ``SequenceEncoder``: a per-step front end (or none, for log-mel frames) and a TCN:
  one modality's input -> (B, T, out_dim).
- ``TemporalFusionModel``: one ``SequenceEncoder`` per modality, a temporal fusion module
  (``course_lib.models.temporal_fusion``) and one linear head per task -> ``{task: logits}``.
- ``SynchronyModel``: do the audio and the video belong together *now*? The sequences
  aligned step by step, compared by a TCN -> ``{"sync": logits (B, 2)}``.

Inputs are dicts ``{"video": (B, T, H, W), "audio": (B, n_mels, S)}`` (AV-Digits-Video,
notebook 09); the recipes that build and train them are in
``course_lib.experiments.av_digits_video_fusion``.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from course_lib.models.checks import require_weights, select_modalities
from course_lib.models.glimpse import GlimpseFrameEncoder
from course_lib.models.modality_dropout import drop_modalities
from course_lib.models.tcn import TCN
from course_lib.models.temporal_fusion import AlignedConcatFusion


class SequenceEncoder(nn.Module):
    """A per-step front end followed by a TCN: modality input -> (B, T, out_dim).

    ``frontend`` maps the input to steps (B, T, in_channels) (video: ``GlimpseFrameEncoder``),
    or is ``None`` for an input that already is a sequence of feature frames (B, in_channels, T)
    (log-mel). The TCN has ``levels`` levels of ``out_dim`` channels (kernel 3).
    """

    def __init__(self, modality: str, in_channels: int, levels: int, out_dim: int = 64,
                 frontend: nn.Module | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.modality, self.out_dim, self.in_channels = modality, out_dim, in_channels
        self.frontend = frontend
        self.tcn = TCN(in_channels, [out_dim] * levels, kernel_size=3, dropout=dropout)

    def steps(self, x: Tensor) -> Tensor:
        """Modality input -> per-step features (B, T, in_channels)."""
        if self.frontend is not None:
            return self.frontend(x)
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.modality} must have shape (B, {self.in_channels}, T), got {tuple(x.shape)}")
        return x.transpose(1, 2)

    def temporal(self, steps: Tensor) -> Tensor:
        """(B, T, in_channels) -> TCN -> (B, T, out_dim)."""
        return self.tcn(steps.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Modality input -> (B, T, out_dim)."""
        return self.temporal(self.steps(x))


class TemporalFusionModel(nn.Module):
    """{modality: input} -> per-modality sequence encoders -> fusion of the sequences -> {task: logits}.

    Args:
        encoders: ``{modality: SequenceEncoder}``, each returning (B, T_m, D).
        fusion: ``LateTemporalFusion`` or ``TemporalAttentionFusion`` over those sequences.
        tasks: ``{task: classes}``; one linear head per task reads the fused vector.
        modality_dropout: in training, the chance that a clip loses one modality (its
            input set to zero, see ``drop_modalities``), so the model learns to cope with
            each modality alone. The training outputs then also hold ``"<modality>_kept"``
            (B,) bool, so that the loss can skip a task for the clips that lost its modality.
        position_target: when the video's front end is a ``GlimpseFrameEncoder``, train it
            against the true digit centres (``"position"`` joins :attr:`targets`).

    When the video's front end is a ``GlimpseFrameEncoder``, the outputs also hold
    ``"position"`` (B, T, 2): where it located the digit in each frame.
    """

    def __init__(self, encoders: Mapping[str, SequenceEncoder], fusion: nn.Module, tasks: Mapping[str, int],
                 modality_dropout: float = 0.0, position_target: bool = True) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.heads = nn.ModuleDict({task: nn.Linear(fusion.out_dim, n) for task, n in tasks.items()})
        self.modalities = tuple(encoders)
        self.modality_dropout = modality_dropout
        self.position_target = position_target

    @property
    def tracks_video(self) -> bool:
        """Whether the video encoder locates the digit (and the model returns ``"position"``)."""
        return "video" in self.encoders and isinstance(self.encoders["video"].frontend, GlimpseFrameEncoder)

    @property
    def targets(self) -> list[str]:
        """The batch keys the model is trained on: its tasks, plus ``"position"`` when it learns the centres."""
        return list(self.heads) + (["position"] if self.tracks_video and self.position_target else [])

    def locate(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """Where the video encoder finds the digit: (B, T, H, W) -> centres (B, T, 2) in (-1, 1), spread (B, T)."""
        if not self.tracks_video:
            raise ValueError("TemporalFusionModel.locate needs a video encoder whose front end is a GlimpseFrameEncoder")
        return self.encoders["video"].frontend.locate(video)

    def encode(self, inputs: Mapping[str, Tensor], centres: Tensor | None = None
               ) -> tuple[dict[str, Tensor], Tensor | None, dict[str, Tensor]]:
        """{modality: input} -> ({modality: (B, T_m, D)}, the video's digit centres (B, T, 2) or None,
        {modality: (B,) bool, the clips that kept it}, empty without modality dropout).

        ``centres`` (B, T, 2), if given, replace the located ones (e.g. the true centres).
        """
        inputs = select_modalities(inputs, self.modalities, "TemporalFusionModel")
        kept = {}
        if self.training and self.modality_dropout > 0 and len(self.modalities) > 1:
            inputs, kept = drop_modalities(inputs, self.modality_dropout)
        sequences, located = {}, None
        for m, x in inputs.items():
            encoder = self.encoders[m]
            if m == "video" and self.tracks_video:
                located = encoder.frontend.locate(x)
                if centres is not None:
                    located = (centres, located[1])
                sequences[m] = encoder.temporal(encoder.frontend(x, located))
            else:
                sequences[m] = encoder(x)
        return sequences, None if located is None else located[0], kept

    def forward(self, inputs: Mapping[str, Tensor], centres: Tensor | None = None,
                return_attention: bool = False) -> dict[str, Tensor]:
        """{modality: input} -> {task: logits (B, classes)} (plus ``"position"`` (B, T, 2) when tracking).

        ``centres`` (B, T, 2) replace the located digit centres. With ``return_attention=True``
        (a fusion module that takes ``return_weights``, e.g. ``TemporalAttentionFusion``) the
        outputs also hold ``"<modality>_attention"``: each modality's attention weights over
        its steps, (B, num_queries, T_m), or (B, T_m) for one query. In training with modality
        dropout they also hold ``"<modality>_kept"`` (B,) bool.
        """
        sequences, located, kept = self.encode(inputs, centres)
        if return_attention:
            require_weights(self.fusion, "TemporalFusionModel")
            fused, weights = self.fusion(sequences, return_weights=True)
        else:
            fused, weights = self.fusion(sequences), {}
        outputs = {task: head(fused) for task, head in self.heads.items()}
        if located is not None:
            outputs["position"] = located
        outputs.update({f"{m}_attention": w for m, w in weights.items()})
        outputs.update({f"{m}_kept": k for m, k in kept.items()})
        return outputs


class SynchronyModel(nn.Module):
    """Does the audio belong to this video *now*? {video, audio} -> {"sync": logits (B, 2)}.

    The two encoders' sequences (each (B, T_m, D)) are aligned step by step (the audio
    averaged down to the video's frames, ``AlignedConcatFusion``), a TCN of ``levels`` levels
    compares them moment by moment and its mean over time feeds the head: a mismatched pair
    says the same digit, but the word is heard while the digit is not lit.
    """

    def __init__(self, encoders: Mapping[str, SequenceEncoder], levels: int = 3) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.modalities = tuple(encoders)
        dims = {m: encoder.out_dim for m, encoder in encoders.items()}
        self.fusion = AlignedConcatFusion(dims)
        dim = dims[self.modalities[0]]
        self.tcn = TCN(self.fusion.out_dim, [dim] * levels, kernel_size=3, dropout=0.1)
        self.head = nn.Linear(dim, 2)

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{"video": ..., "audio": ...} -> {"sync": (B, 2)}."""
        selected = select_modalities(inputs, self.modalities, "SynchronyModel")
        steps = self.fusion({m: self.encoders[m](x) for m, x in selected.items()})  # (B, T, sum of D)
        return {"sync": self.head(self.tcn(steps.transpose(1, 2)).mean(dim=2))}

