"""Reasoners of visual question answering: where the image features and the question meet.

Every reasoner is called as ``reasoner(features, question)`` with the image encoder's
features (a dict, repeated for each question) and the question vectors (N, question_dim),
and returns a dict with ``"answer"`` logits (N, num_answers) and possibly more heads:

- ``CNNMLPReasoner``: the flattened CNN maps and the question into an MLP (late fusion).
- ``AttentionReasoner``: the question attends over the CNN's cells (cross-modal attention).
- ``FiLMReasoner``: the question scales and shifts the CNN's channels (FiLM).
- ``ObjectReasoner``: two attention hops and a relation module over object slots.

With ``return_attention=True`` a reasoner that attends also returns its weights, for
pictures: ``"attention"`` (N, R) for ``AttentionReasoner``; ``"hop1_weights"`` (N, K) and
``"hop2_weights"`` (N, 2, K) for ``ObjectReasoner``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib.models.attention import CrossModalAttention
from course_lib.models.blocks import mlp
from course_lib.models.coordinates import coordinate_grid
from course_lib.models.film import FiLMBlock
from course_lib.models.relational import RelationalReasoner
from course_lib.models.vqa_encoders import QUESTION_DIM

#: The outputs ``ObjectReasoner`` can return, each a target for a loss.
RELATIONAL_HEADS = ("answer", "named_object", "related_object")


class CNNMLPReasoner(nn.Module):
    """Late fusion: the flattened CNN maps (N, C, s, s) and the question, concatenated, into an MLP."""

    def __init__(self, image_dim: int, num_answers: int, question_dim: int = QUESTION_DIM,
                 hidden_dim: int = 256) -> None:
        super().__init__()
        self.mlp = mlp(image_dim + question_dim, hidden_dim, num_answers)

    def forward(self, features: dict[str, Tensor], question: Tensor, return_attention: bool = False) -> dict[str, Tensor]:
        return {"answer": self.mlp(torch.cat([features["maps"].flatten(1), question], dim=1))}


class AttentionReasoner(nn.Module):
    """The question attends over the CNN's cells ``features["regions"]`` (N, R, channels + 2: features plus
    x, y); the attended vector and the question go into an MLP."""

    def __init__(self, channels: int, num_answers: int, question_dim: int = QUESTION_DIM, hidden_dim: int = 128,
                 num_heads: int = 2) -> None:
        super().__init__()
        self.attend = CrossModalAttention(question_dim, channels + 2, hidden_dim, num_heads)
        self.mlp = mlp(hidden_dim + question_dim, hidden_dim, num_answers)

    def forward(self, features: dict[str, Tensor], question: Tensor, return_attention: bool = False) -> dict[str, Tensor]:
        attended, weights = self.attend(question, features["regions"])
        outputs = {"answer": self.mlp(torch.cat([attended, question], dim=1))}
        if return_attention:
            outputs["attention"] = weights
        return outputs


class FiLMReasoner(nn.Module):
    """Two FiLM residual blocks on the CNN's maps (plus x, y channels), max pooling, an MLP on [pooled, question].

    The blocks use group normalization, like ``ConvImageEncoder``: no statistics shared across a batch.
    """

    def __init__(self, channels: int, num_answers: int, question_dim: int = QUESTION_DIM, hidden_dim: int = 128,
                 num_blocks: int = 2) -> None:
        super().__init__()
        self.coords_in = nn.Conv2d(channels + 2, channels, 1)
        self.blocks = nn.ModuleList(FiLMBlock(channels, question_dim, norm="group") for _ in range(num_blocks))
        self.mlp = mlp(channels + question_dim, hidden_dim, num_answers)

    def forward(self, features: dict[str, Tensor], question: Tensor, return_attention: bool = False) -> dict[str, Tensor]:
        maps = features["maps"]
        b, _, h, w = maps.shape
        grid = coordinate_grid(h, w, maps.device).T.reshape(1, 2, h, w).expand(b, -1, -1, -1)
        x = self.coords_in(torch.cat([maps, grid], dim=1))
        for block in self.blocks:
            x = block(x, question)
        return {"answer": self.mlp(torch.cat([x.amax(dim=(2, 3)), question], dim=1))}


class ObjectReasoner(nn.Module):
    """``RelationalReasoner`` on ``features["objects"]`` (N, K, object_dim) and ``features["positions"]`` (N, K, 2).

    Only the heads named in ``outputs`` (from ``RELATIONAL_HEADS``) come out, so no
    auxiliary loss reaches a hop whose scores are left out. ``position_readout``: see
    ``RelationalReasoner``.
    """

    def __init__(self, num_answers: int, object_dim: int = 64, question_dim: int = QUESTION_DIM,
                 hidden_dim: int = 64, outputs: Sequence[str] = RELATIONAL_HEADS, position_readout: int = 0) -> None:
        super().__init__()
        if "answer" not in outputs or not set(outputs) <= set(RELATIONAL_HEADS):
            raise ValueError(f"ObjectReasoner: outputs must include 'answer' and come from {RELATIONAL_HEADS}, "
                             f"got {tuple(outputs)}")
        self.reasoner = RelationalReasoner(object_dim, question_dim, num_answers, hidden_dim,
                                           position_readout=position_readout)
        self.outputs = tuple(outputs)

    def forward(self, features: dict[str, Tensor], question: Tensor, return_attention: bool = False) -> dict[str, Tensor]:
        result = self.reasoner(features["objects"], features["positions"], question, return_attention=return_attention)
        shown = self.outputs + (("hop1_weights", "hop2_weights") if return_attention else ())
        return {key: result[key] for key in shown}
