"""Modality dropout: train a fusion model to cope with a missing modality.

    robust = ModalityDropoutModel(avf.build_model("concat"), p=0.3)
    logits = robust({"image": images, "audio": spectrograms})   # (B, num_classes)
    logits = robust({"image": images})                          # audio absent: allowed

In training, each sample's embedding of each modality is replaced by zeros with
probability ``p``, but never all of a sample's modalities at once; the embeddings
that are kept are multiplied by ``M / (number kept)``. A modality that is absent
from the inputs at test time is handled by the same rule, so the model sees at
test time the kind of input it was trained on. A plain ``MultimodalModel`` still
raises a clear error for a missing modality.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import torch
from torch import Tensor, nn

from course_lib.models.multimodal import MultimodalModel


class ModalityDropout(nn.Module):
    """{modality: (B, D_m)} -> the same dict with whole embeddings zeroed, per sample.

    ``forward(embeddings, absent)``: the modalities named in ``absent`` are missing for
    the whole batch (their embeddings are ignored and zeroed). In training every other
    modality is also dropped with probability ``p``, per sample; a sample whose draw
    would drop all its modalities keeps one present modality, chosen uniformly at
    random. With ``rescale`` the kept embeddings of a sample are multiplied by
    ``M / kept``. In evaluation nothing is drawn: only ``absent`` is zeroed (and the
    rest rescaled). Draws come from PyTorch's global generator, so ``seed_everything``
    makes them repeatable.
    """

    def __init__(self, modalities: Sequence[str], p: float = 0.3, rescale: bool = True) -> None:
        super().__init__()
        if len(modalities) < 2:
            raise ValueError(f"ModalityDropout needs at least two modalities, got {list(modalities)}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"ModalityDropout: p must be in [0, 1), got {p!r}")
        self.modalities = tuple(modalities)
        self.p = p
        self.rescale = rescale

    def sample_keep(self, present: Tensor) -> Tensor:
        """present (B, M) bool -> keep (B, M) bool: a random subset of each row of ``present``, never empty."""
        keep = present & (torch.rand(present.shape, device=present.device) >= self.p)
        scores = torch.rand(present.shape, device=present.device).masked_fill(~present, -1.0)
        one_present = nn.functional.one_hot(scores.argmax(dim=1), len(self.modalities)).bool()  # (B, M)
        return torch.where(keep.any(dim=1, keepdim=True), keep, one_present)

    def forward(self, embeddings: Mapping[str, Tensor], absent: Collection[str] = ()) -> dict[str, Tensor]:
        """{modality: (B, D_m)} -> {modality: (B, D_m)}, some rows of some modalities zeroed."""
        unknown = [m for m in absent if m not in self.modalities]
        if unknown:
            raise ValueError(f"ModalityDropout: unknown modality {unknown[0]!r}; known: {list(self.modalities)}")
        flags = [m not in absent for m in self.modalities]
        if not any(flags):
            raise ValueError(f"ModalityDropout: all modalities {list(self.modalities)} are absent")
        first = embeddings[self.modalities[flags.index(True)]]
        if self.training and self.p > 0:
            present = torch.tensor(flags, device=first.device).expand(len(first), -1)
            weights = self.sample_keep(present).to(first.dtype)  # (B, M)
            if self.rescale:
                weights = weights * len(self.modalities) / weights.sum(dim=1, keepdim=True)
            return {m: embeddings[m] * weights[:, i : i + 1] for i, m in enumerate(self.modalities)}
        if all(flags):
            return dict(embeddings)
        scale = len(self.modalities) / sum(flags) if self.rescale else 1.0
        return {m: embeddings[m] * scale if keep else torch.zeros_like(embeddings[m])
                for m, keep in zip(self.modalities, flags)}

    def extra_repr(self) -> str:
        return f"modalities={list(self.modalities)}, p={self.p}, rescale={self.rescale}"


class ModalityDropoutModel(nn.Module):
    """A ``MultimodalModel`` with modality dropout between its encoders and its fusion.

    {modality: input} -> encoders -> ``ModalityDropout`` -> fusion -> head -> logits (B, C).
    The inputs may lack modalities (at least one must be there): an absent modality's
    embedding is zeros, as if it had been dropped. ``p=0`` trains exactly like the
    wrapped model but still accepts a missing modality at test time.
    """

    def __init__(self, model: MultimodalModel, p: float = 0.3, rescale: bool = True) -> None:
        super().__init__()
        if not isinstance(model, MultimodalModel):
            raise TypeError(f"ModalityDropoutModel wraps a MultimodalModel, got {type(model).__name__}")
        missing_dim = [m for m, encoder in model.encoders.items() if not hasattr(encoder, "out_dim")]
        if missing_dim:
            raise ValueError(f"ModalityDropoutModel: the {missing_dim[0]!r} encoder has no out_dim")
        self.model = model
        self.modalities = model.modalities
        self.dropout = ModalityDropout(model.modalities, p, rescale)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """{modality: input, ...} with at least one of the model's modalities -> logits (B, num_classes)."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"ModalityDropoutModel expects a dict {{modality: tensor}}, got {type(inputs).__name__}")
        given = [m for m in self.modalities if inputs.get(m) is not None]
        if not given:
            raise ValueError(
                f"ModalityDropoutModel: needs at least one of {list(self.modalities)}, "
                f"the inputs have {list(inputs)}"
            )
        encoded = {m: self.model.encoders[m](inputs[m]) for m in given}
        reference = encoded[given[0]]
        embeddings = {
            m: encoded[m] if m in encoded else reference.new_zeros(reference.shape[0], self.model.encoders[m].out_dim)
            for m in self.modalities
        }
        absent = [m for m in self.modalities if m not in encoded]
        return self.model.head(self.model.fusion(self.dropout(embeddings, absent)))


def drop_modalities(inputs: Mapping[str, Tensor], probability: float) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Modality dropout on the raw inputs: each sample loses, with ``probability``, one randomly chosen modality.

    ``{m: (B, ...)}`` -> ``(dropped, kept)``: ``dropped`` has the same shapes, the dropped modality's
    input set to zero (as a modality ablation does at test time); ``kept[m]`` (B,) bool says which
    samples still have modality ``m``. A sample never loses all its modalities. Unlike
    :class:`ModalityDropout` (notebook 10), which drops (B, D) embeddings and rescales the rest,
    this needs no change to the model's encoders, and ``kept`` lets the loss of a task that only
    the dropped modality carries skip that sample (see ``course_lib.experiments.av_digits_video_fusion``).
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"drop_modalities: probability must be in [0, 1], got {probability!r}")
    modalities = list(inputs)
    batch = inputs[modalities[0]].shape[0]
    dropped = torch.rand(batch) < probability
    which = torch.randint(len(modalities), (batch,))
    out, kept = {}, {}
    for i, m in enumerate(modalities):
        keep = ~(dropped & (which == i))
        kept[m] = keep.to(inputs[m].device)
        out[m] = inputs[m] * keep.view((batch,) + (1,) * (inputs[m].dim() - 1)).to(inputs[m].device, inputs[m].dtype)
    return out, kept
