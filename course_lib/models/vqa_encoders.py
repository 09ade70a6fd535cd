"""Encoders of visual question answering: questions as token ids, images as maps, cells or object slots.

- ``QuestionEncoder``: token ids (B, L) -> (B, out_dim), learned from scratch (a bag of
  word embeddings, or a GRU). ``CodedQuestionEncoder``: binary-coded questions, as they are.
- ``conv_stem``: the Relation Networks paper's CNN (stride-2 convolutions).
- ``ConvImageEncoder``: images -> the CNN's maps and its cells with their coordinates.
- ``SlotImageEncoder``: images -> one vector, centre and shape guess per object slot (slots
  learned from pixels, or one per colour).

Every image encoder returns a dict of features; ``VQAModel`` (``course_lib.models.vqa``)
hands the ones its reasoner needs to the reasoner.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.models.checks import check_shape
from course_lib.models.coordinates import coordinate_grid
from course_lib.models.relational import SLOT_SUMMARY_DIM, ColourSlots, ObjectSlots

QUESTION_DIM = 64  # the size of a question vector throughout the VQA models


class QuestionEncoder(nn.Module):
    """Token ids (B, L), 0 = padding -> question vectors (B, out_dim), learned from scratch.

    ``kind="mean"``: the mean of the word embeddings of the real tokens (a bag of words: the
    order is lost), then a linear layer and ReLU. ``kind="gru"``: a GRU reads the embeddings;
    its hidden state after each question's last real token is the vector (the order counts,
    at several times the cost).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, out_dim: int = QUESTION_DIM, kind: str = "mean") -> None:
        super().__init__()
        if kind not in ("mean", "gru"):
            raise ValueError(f"QuestionEncoder: kind must be 'mean' or 'gru', got {kind!r}")
        self.kind, self.out_dim = kind, out_dim
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        if kind == "gru":
            self.gru = nn.GRU(embed_dim, out_dim, batch_first=True)
        else:
            self.proj = nn.Sequential(nn.Linear(embed_dim, out_dim), nn.ReLU())

    def forward(self, ids: Tensor) -> Tensor:
        """(B, L) int64 -> (B, out_dim)."""
        check_shape(ids, "QuestionEncoder: question", ("B", "L"))
        real = ids != 0
        lengths = real.sum(dim=1).clamp(min=1)
        embedded = self.embed(ids)
        if self.kind == "mean":
            return self.proj((embedded * real[..., None]).sum(dim=1) / lengths[:, None])
        outputs, _ = self.gru(embedded)  # (B, L, out_dim); padding comes after the real tokens
        return outputs[torch.arange(len(ids), device=ids.device), lengths - 1]


def conv_stem(num_layers: int, channels: int = 24, norm: str = "batch") -> nn.Sequential:
    """The Relation Networks paper's CNN: ``num_layers`` x (3x3 conv, stride 2, normalization, ReLU).

    (B, 3, 75, 75) -> (B, channels, s, s) with s = 38, 19, 10, 5 after 1 to 4 layers.
    ``norm="group"``: group normalization with one group per channel, which normalizes each
    channel of each image on its own, the same way in training and evaluation. ``norm="batch"``: batch normalization
    with the statistics of the current batch also in evaluation (``track_running_stats=False``):
    on these mostly white images the running averages that evaluation would otherwise use lag
    behind the training weights; a prediction then depends on the other images of its batch,
    so evaluate in batches of many images, not one by one.
    """
    if norm not in ("batch", "group"):
        raise ValueError(f"conv_stem: norm must be 'batch' or 'group', got {norm!r}")
    layers, width = [], 3
    for _ in range(num_layers):
        normalize = nn.GroupNorm(channels, channels) if norm == "group" else nn.BatchNorm2d(channels, track_running_stats=False)
        layers += [nn.Conv2d(width, channels, 3, stride=2, padding=1, bias=False), normalize, nn.ReLU()]
        width = channels
    return nn.Sequential(*layers)


class ConvImageEncoder(nn.Module):
    """Images (B, 3, S, S) -> ``{"maps": (B, C, s, s), "regions": (B, s * s, C + 2)}`` (cells with their x, y).

    ``conv_stem`` with group normalization by default: no statistics shared across a batch.
    """

    def __init__(self, num_layers: int, channels: int = 24, norm: str = "group") -> None:
        super().__init__()
        self.stem = conv_stem(num_layers, channels, norm)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        maps = self.stem(images)
        b, c, h, w = maps.shape
        grid = coordinate_grid(h, w, maps.device).expand(b, -1, -1)
        return {"maps": maps, "regions": torch.cat([maps.flatten(2).transpose(1, 2), grid], dim=-1)}


class CodedQuestionEncoder(nn.Module):
    """Questions given as binary codes (B, code_dim) float -> the same codes (B, code_dim), as they are.

    The Relation Networks paper's questions: no words to read, so nothing to learn here.
    """

    def __init__(self, code_dim: int) -> None:
        super().__init__()
        self.out_dim = code_dim

    def forward(self, codes: Tensor) -> Tensor:
        check_shape(codes, "CodedQuestionEncoder: question", ("B", self.out_dim))
        return codes.float()


class SlotImageEncoder(nn.Module):
    """Images (B, 3, H, W) in [0, 1] -> one vector, centre and shape guess per object slot.

    ``ObjectSlots`` (``grouping="learned"``) or ``ColourSlots`` (``"colour"``, no parameters)
    finds K = ``num_slots`` objects and summarizes each; an MLP (shared by the objects) turns
    each summary into an object vector, and a linear head reads each object's shape
    (``num_shapes`` logits) from its vector, for an auxiliary loss.

    Output ``{"objects": (B, K, object_dim), "positions": (B, K, 2), "object_shape": (B, K,
    num_shapes), "masks": (B, K + 1, H * W)}``: ``masks`` is each slot's share of every pixel,
    the background's last, for pictures.
    """

    def __init__(self, num_slots: int, object_dim: int = 64, num_shapes: int = 2, grouping: str = "learned") -> None:
        super().__init__()
        if grouping not in ("learned", "colour"):
            raise ValueError(f"SlotImageEncoder: grouping must be 'learned' or 'colour', got {grouping!r}")
        self.slots = ObjectSlots(num_slots=num_slots) if grouping == "learned" else ColourSlots(num_slots)
        self.embed = nn.Sequential(nn.Linear(SLOT_SUMMARY_DIM, object_dim), nn.ReLU(), nn.Linear(object_dim, object_dim))
        self.shape_head = nn.Linear(object_dim, num_shapes)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        slots = self.slots(images)
        objects = self.embed(slots["objects"])
        return {"objects": objects, "positions": slots["positions"], "object_shape": self.shape_head(objects),
                "masks": slots["masks"]}
