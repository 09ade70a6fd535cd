"""Contrastive alignment of two modalities (CLIP-style): the InfoNCE loss and a two-tower model.

    model = TwoTowerModel({"image": image_encoder, "audio": audio_encoder}, embed_dim=32)
    outputs = model({"image": images, "audio": log_mels})   # {"image": (B, 32), "audio": (B, 32)}, unit length
    loss = model.loss(outputs)                  # symmetric InfoNCE at the model's learned temperature
    loss = model.loss(outputs, labels=digits)   # the same, other pairs of the same digit not counted as negatives

Each tower (an encoder per modality) maps its input to a vector; a linear projection per
modality maps it into one shared space of ``embed_dim`` numbers, where it is scaled to unit
length. The towers never see each other's input: the only thing that joins them is the loss,
which asks the matching pairs of a batch (row ``i`` of each modality) to be more similar than
every mismatched pair (Radford et al. 2021, "Learning Transferable Visual Models From Natural
Language Supervision"; van den Oord et al. 2018 for InfoNCE).

Towers for image-caption retrieval on Sort-of-CLEVR-Text (notebook 11):

- ``PaletteSlots``: a fixed front end, scenes -> per palette colour its area, centre and spread.
- ``SceneEncoder``: a CNN that learns the same from the pixels (maps flattened, then an MLP).
- ``PositionalTokenEncoder``: token ids of a templated sentence -> a vector (word + position embeddings, MLP).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.checks import check_shape
from course_lib.models.relational import slot_summary
from course_lib.models.vqa_encoders import conv_stem


def same_label_mask(labels: Tensor, other: Tensor | None = None) -> Tensor:
    """(B,) labels (and optionally the other side's (B',) labels) -> (B, B') bool: True where the labels agree."""
    check_shape(labels, "same_label_mask: labels", ("B",))
    other = labels if other is None else other
    check_shape(other, "same_label_mask: other", ("B",))
    return labels[:, None] == other[None, :]


def contrastive_loss(first: Tensor, second: Tensor, logit_scale: Tensor | float,
                     positives: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE of a batch of pairs: the mean of the two directions' cross-entropies.

    Row ``i`` of ``first`` and row ``i`` of ``second`` are a pair. The logits are the scaled
    cosine similarities ``logit_scale * first @ second.T`` (B, B); row ``i`` is a classification
    of which of the B candidates is ``i``'s partner (first -> second), and column ``i`` the same
    the other way (second -> first).

    Args:
        first, second: (B, D) embeddings, already of unit length.
        logit_scale: 1 / temperature, a number or a 0-d tensor (learned: keep it a parameter).
        positives: optional (B, B) bool, True where ``first[i]`` and ``second[j]`` are known to
            match (e.g. the same class). Such pairs off the diagonal are left out of the
            softmax: they count as neither the answer nor a negative (a "false negative" is
            no longer pushed away). The diagonal must be True.

    Returns:
        A 0-d tensor: (CE(rows) + CE(columns)) / 2, each averaged over the batch.
    """
    check_shape(first, "contrastive_loss: first", ("B", "D"))
    check_shape(second, "contrastive_loss: second", (first.shape[0], first.shape[1]))
    logits = logit_scale * first @ second.T  # (B, B)
    if positives is not None:
        check_shape(positives, "contrastive_loss: positives", (len(first), len(first)))
        if positives.dtype != torch.bool or not positives.diagonal().all():
            raise ValueError("contrastive_loss: positives must be a bool mask whose diagonal is True "
                             "(every pair matches itself)")
        off_diagonal = positives & ~torch.eye(len(first), dtype=torch.bool, device=positives.device)
        logits = logits.masked_fill(off_diagonal, float("-inf"))
    targets = torch.arange(len(first), device=first.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


class TwoTowerModel(nn.Module):
    """Two encoders ("towers"), a linear projection each, one shared embedding space.

    Input ``{first: x1, second: x2}`` (other keys are ignored); output ``{first: (B, D),
    second: (B, D)}``, each row of unit length, so ``outputs[first] @ outputs[second].T`` is the
    matrix of cosine similarities. ``encode(modality, x)`` embeds one modality on its own (a
    query, or a gallery to search).

    The temperature is learned, as in CLIP: ``logit_scale`` is the parameter ``log(1 /
    temperature)``, and the scale ``1 / temperature`` is clamped at ``max_scale`` (100) so that
    it cannot grow without bound. ``learn_temperature=False`` keeps it fixed.

    Args:
        towers: ``{modality: encoder}``, exactly two; each encoder maps its input to
            (B, encoder.out_dim).
        embed_dim: size of the shared space.
        temperature: the starting temperature (0.07 in CLIP).
    """

    def __init__(self, towers: Mapping[str, nn.Module], embed_dim: int = 32, temperature: float = 0.07,
                 learn_temperature: bool = True, max_scale: float = 100.0) -> None:
        super().__init__()
        if len(towers) != 2:
            raise ValueError(f"TwoTowerModel: needs exactly two towers, got {list(towers)}")
        if not temperature > 0 or 1 / temperature > max_scale:
            raise ValueError(f"TwoTowerModel: temperature must be at least 1 / max_scale = {1 / max_scale:g}, "
                             f"got {temperature}")
        for modality, tower in towers.items():
            if not isinstance(getattr(tower, "out_dim", None), int):
                raise TypeError(f"TwoTowerModel: the {modality!r} tower must expose out_dim (its output size)")
        self.modalities = tuple(towers)
        self.embed_dim = embed_dim
        self.towers = nn.ModuleDict(dict(towers))
        self.projections = nn.ModuleDict({m: nn.Linear(t.out_dim, embed_dim) for m, t in towers.items()})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)), requires_grad=learn_temperature)
        self.max_scale = max_scale

    def scale(self) -> Tensor:
        """1 / temperature, a 0-d tensor (clamped at ``max_scale``; gradients flow below it)."""
        return self.logit_scale.exp().clamp(max=self.max_scale)

    def temperature(self) -> float:
        """The current temperature, a number."""
        return 1.0 / self.scale().item()

    def encode(self, modality: str, x: Tensor) -> Tensor:
        """One modality's input -> (B, embed_dim) of unit length."""
        if modality not in self.towers:
            raise ValueError(f"TwoTowerModel: unknown modality {modality!r}; the towers are {list(self.modalities)}")
        return F.normalize(self.projections[modality](self.towers[modality](x)), dim=-1)

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """{modality: input} -> {modality: (B, embed_dim) unit-length embedding} for both towers."""
        if not isinstance(inputs, Mapping):
            raise TypeError(f"TwoTowerModel expects a dict {{modality: tensor}}, got {type(inputs).__name__}")
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ValueError(f"TwoTowerModel: missing modality {missing[0]!r}; the model needs "
                             f"{list(self.modalities)}, the inputs have {list(inputs)}")
        sizes = {m: len(inputs[m]) for m in self.modalities}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"TwoTowerModel: both modalities need the same batch size (row i of each is a pair), got {sizes}")
        return {m: self.encode(m, inputs[m]) for m in self.modalities}

    def loss(self, outputs: Mapping[str, Tensor], labels: Tensor | None = None) -> Tensor:
        """``contrastive_loss`` of the outputs at the learned temperature.

        With ``labels`` (B,), pairs that share a label are known matches: they are left out
        of the negatives (see ``contrastive_loss``'s ``positives``).
        """
        first, second = (outputs[m] for m in self.modalities)
        positives = None if labels is None else same_label_mask(labels.to(first.device))
        return contrastive_loss(first, second, self.scale().to(first.device), positives)


class SceneEncoder(nn.Module):
    """Scenes (B, 3, S, S), uint8 or float in [0, 1] -> (B, out_dim): which object is where.

    The Relation Networks paper's CNN (``conv_stem``: four stride-2 convolutions, 75 -> 5
    pixels a side), then its maps flattened, so each cell's place in the picture stays in the
    vector (global pooling would throw the positions away), and a two-layer MLP.
    """

    def __init__(self, image_size: int = 75, out_dim: int = 128, channels: int = 24, num_layers: int = 4,
                 hidden_dim: int = 256) -> None:
        super().__init__()
        self.out_dim, self.image_size = out_dim, image_size
        self.stem = conv_stem(num_layers, channels)
        side = image_size
        for _ in range(num_layers):
            side = (side + 1) // 2  # 3x3, stride 2, padding 1
        self.mlp = nn.Sequential(nn.Linear(channels * side * side, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) -> (B, out_dim)."""
        check_shape(images, "SceneEncoder: image", ("B", 3, self.image_size, self.image_size))
        if images.dtype == torch.uint8:
            images = images.float() / 255
        return self.mlp(self.stem(images).flatten(1))


class PositionalTokenEncoder(nn.Module):
    """Token ids (B, L) of fixed-template sentences, 0 = padding -> (B, out_dim).

    Each token gets a word embedding plus an embedding of its position; the L vectors are
    concatenated (not averaged, so the model knows which word came where) and read by a
    two-layer MLP. Cheaper than a recurrent network and enough for sentences whose words keep
    their places (a caption template); sentences longer than ``max_len`` are refused.
    """

    def __init__(self, vocab_size: int, max_len: int, embed_dim: int = 16, out_dim: int = 128,
                 hidden_dim: int = 256) -> None:
        super().__init__()
        self.max_len, self.out_dim = max_len, out_dim
        self.words = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(max_len, embed_dim))
        self.mlp = nn.Sequential(nn.Linear(max_len * embed_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, ids: Tensor) -> Tensor:
        """(B, L) int64 with L <= max_len -> (B, out_dim)."""
        check_shape(ids, "PositionalTokenEncoder: text", ("B", "L"))
        if ids.shape[1] > self.max_len:
            raise ValueError(f"PositionalTokenEncoder: text has {ids.shape[1]} tokens, more than max_len={self.max_len}")
        ids = F.pad(ids, (0, self.max_len - ids.shape[1]))
        vectors = (self.words(ids) + self.positions) * (ids != 0)[..., None]  # padding stays 0
        return self.mlp(vectors.flatten(1))



class PaletteSlots(nn.Module):
    """A fixed object-centric front end: scenes (B, 3, H, W) uint8 -> (B, C, 5), one slot per palette colour.

    Slot ``c`` holds the pixels of exactly colour ``palette[c]`` and summarizes them by
    ``log(1 + area)`` (in pixels), the centre (x, y) in [-1, 1] and ``log(1 + spread)`` in x and
    in y (the variance of the pixel positions, in pixels^2); an absent colour gives zeros. Like
    the log-mel front end of the audio, it has no parameters: it is computed once, before
    training. It only works for images drawn in known flat colours, as Sort-of-CLEVR's are.
    """

    def __init__(self, palette: Tensor) -> None:
        super().__init__()
        check_shape(palette, "PaletteSlots: palette", ("C", 3))
        self.register_buffer("palette", palette.to(torch.uint8))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) uint8 -> (B, C, 5)."""
        check_shape(images, "PaletteSlots: image", ("B", 3, "H", "W"))
        if images.dtype != torch.uint8:
            raise ValueError(f"PaletteSlots: image must be uint8 (exact colours), got {images.dtype}")
        masks = (images[:, None] == self.palette[None, :, :, None, None]).all(dim=2).flatten(2).float()  # (B, C, P)
        summary = slot_summary(masks, images.float() / 255)["objects"]  # (B, C, 8)
        return summary[..., :5]  # the colour columns left out: slot c is colour c
