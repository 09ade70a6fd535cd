"""Relational reasoning over objects: object slots from pixels, distance-aware attention, a relation network.

A relational question ("what shape is the object closest to the red one?") needs three steps:
find the object named by the question, compare it with every other object, and read out the
one the comparison selects (or count the ones that match). The modules here give a network
each step as an inductive bias, and learn everything else from pixels and answers:

- ``ObjectSlots``: a per-pixel network shares every pixel among ``num_slots`` object slots
  and one background slot (a softmax over the slots); each slot summarizes its pixels by
  their area, centroid, spread and mean colour (``slot_summary``). With one slot per object,
  the centroid is the object's centre and the area and spread tell a square from a circle.
- ``ColourSlots``: no parameters; one slot per distinct colour of the image (the most common
  colour is the background), the same summary. It finds objects only in images drawn with
  flat, exact colours, one colour per object (no shading, anti-aliasing, noise or JPEG).
- ``RelationModule``: ``sum_j g([anchor, object_j, question])`` (Santoro et al. 2017), with
  ``g`` an MLP: a count of the objects related to the anchor in the way the question asks.
- ``RelationalReasoner``: question -> hop 1 (attention finds the object named) -> hop 2
  (attention with a question-dependent bias on the distance to that object: it can pick the
  closest or the furthest one) -> relation module -> answer. Optionally the question also
  reads hop 1's position through projections it chooses (``position_readout``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.models.attention import CrossModalAttention
from course_lib.models.checks import check_shape
from course_lib.models.coordinates import coordinate_grid

#: Numbers per slot in ``ObjectSlots``' summary: log area, centre (x, y), log spread (x, y), colour (r, g, b).
SLOT_SUMMARY_DIM = 8


class ObjectSlots(nn.Module):
    """Images (B, 3, H, W) -> ``num_slots`` object slots, each summarized by ``SLOT_SUMMARY_DIM`` numbers.

    A per-pixel network (1x1 convolutions: each pixel's colour alone) scores every pixel for
    ``num_slots + 1`` slots, the last one for the background; a softmax over the slots shares
    the pixel among them, so the slots compete for pixels. Slot ``k``'s mask ``m_k`` (its share
    of every pixel) gives its area ``sum m_k`` (in pixels), its centroid (the mask-weighted mean
    of the pixel coordinates, in [-1, 1]), its spread (the weighted variance of x and of y, in
    pixels^2) and its mean colour. Nothing here says which slot takes which object: training
    decides, e.g. with an auxiliary loss on the centroids (see ``sort_of_clevr_vqa``).
    """

    def __init__(self, num_slots: int = 6, hidden_dim: int = 16) -> None:
        super().__init__()
        if num_slots < 1:
            raise ValueError(f"ObjectSlots: num_slots must be at least 1, got {num_slots}")
        self.num_slots = num_slots
        self.assign = nn.Sequential(nn.Conv2d(3, hidden_dim, 1), nn.ReLU(), nn.Conv2d(hidden_dim, num_slots + 1, 1))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (B, 3, H, W) in [0, 1] -> ``{"objects": (B, K, SLOT_SUMMARY_DIM), "positions": (B, K, 2),
        "masks": (B, K + 1, H * W)}`` (the last mask is the background's)."""
        check_shape(images, "ObjectSlots: images", ("B", 3, "H", "W"))
        masks = self.assign(images).flatten(2).softmax(dim=1)  # (B, K + 1, P): every pixel shared among the slots
        return {**slot_summary(masks[:, :-1], images), "masks": masks}


class ColourSlots(nn.Module):
    """Images (B, 3, H, W) -> one slot per distinct colour, with ``ObjectSlots``' summary; no parameters.

    Every pixel of an image goes to the slot of its exact colour (its 8-bit RGB value); the
    image's most common colour is the background. The slots are ordered by colour value,
    which carries no meaning: the models that read them attend over the set. Each image must
    hold exactly ``num_slots`` colours besides its background, so this grouping suits images
    drawn with flat colours, one per object, like Sort-of-CLEVR's; a photograph has thousands
    of colours per object and needs a learned grouping.
    """

    def __init__(self, num_slots: int = 6) -> None:
        super().__init__()
        if num_slots < 1:
            raise ValueError(f"ColourSlots: num_slots must be at least 1, got {num_slots}")
        self.num_slots = num_slots

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (B, 3, H, W) in [0, 1] -> ``{"objects": (B, K, SLOT_SUMMARY_DIM), "positions": (B, K, 2),
        "masks": (B, K + 1, H * W)}``, each mask 0 or 1 (the last one the background's)."""
        check_shape(images, "ColourSlots: images", ("B", 3, "H", "W"))
        b, k = images.shape[0], self.num_slots
        rgb = (images.detach().flatten(2) * 255).round().long()  # (B, 3, P)
        code = (rgb[:, 0] * 256 + rgb[:, 1]) * 256 + rgb[:, 2]  # (B, P): one integer per colour
        image_index = torch.arange(b, device=images.device)[:, None]
        colours, slot, counts = torch.unique(image_index * 2**24 + code, return_inverse=True, return_counts=True)
        per_image = torch.bincount(colours // 2**24, minlength=b)  # distinct colours per image, background included
        if (per_image != k + 1).any():
            bad = int((per_image != k + 1).nonzero()[0])
            raise ValueError(f"ColourSlots: image {bad} has {int(per_image[bad])} distinct colours, expected "
                             f"num_slots + 1 = {k + 1} (one per object and the background); it needs flat, exact colours")
        rank = slot - image_index * (k + 1)  # (B, P): the rank of the pixel's colour within its image
        background = counts.view(b, k + 1).argmax(dim=1, keepdim=True)  # (B, 1): the most common colour
        slot = torch.where(rank == background, k, rank - (rank > background).long())  # the background goes last
        masks = nn.functional.one_hot(slot, k + 1).transpose(1, 2).to(images.dtype)  # (B, K + 1, P)
        return {**slot_summary(masks[:, :-1], images), "masks": masks}


def slot_summary(masks: Tensor, images: Tensor) -> dict[str, Tensor]:
    """Summarize each slot of ``masks`` (B, K, H * W), its share of every pixel of ``images`` (B, 3, H, W).

    Returns ``{"objects": (B, K, SLOT_SUMMARY_DIM), "positions": (B, K, 2)}``: per slot its log
    area ``log(1 + sum m_k)`` (in pixels), its centroid (the mask-weighted mean of the pixel
    coordinates, in [-1, 1]), its log spread (the weighted variance of x and of y, in pixels^2)
    and its mean colour.
    """
    _, _, h, w = images.shape
    grid = coordinate_grid(h, w, images.device)  # (P, 2)
    colours = images.flatten(2).transpose(1, 2)  # (B, P, 3)
    area = masks.sum(dim=-1, keepdim=True)  # (B, K, 1) in pixels
    share = masks / area.clamp(min=1.0)  # weights summing to about 1 over the slot's pixels
    centre = share @ grid  # (B, K, 2)
    half_size = torch.tensor([w / 2, h / 2], device=images.device)  # pixels per unit of x and of y
    spread = (share @ grid.square() - centre.square()).clamp(min=0) * half_size.square()
    summary = torch.cat([torch.log1p(area), centre, torch.log1p(spread), share @ colours], dim=-1)
    return {"objects": summary, "positions": centre}


class RelationModule(nn.Module):
    """Relation network around an anchor: ``sum_j g([anchor, object_j, question])``.

    Args:
        object_dim: size of the anchor and of each object vector.
        question_dim: size of the question vector.
        hidden_dim: width of the MLP ``g`` and of the output.
    """

    def __init__(self, object_dim: int, question_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.object_dim, self.question_dim, self.out_dim = object_dim, question_dim, hidden_dim
        self.g = nn.Sequential(nn.Linear(2 * object_dim + question_dim, hidden_dim), nn.ReLU(),
                               nn.Linear(hidden_dim, hidden_dim), nn.ReLU())

    def forward(self, anchor: Tensor, objects: Tensor, question: Tensor) -> Tensor:
        """anchor (B, D), objects (B, K, D), question (B, Dq) -> (B, hidden_dim)."""
        check_shape(objects, "RelationModule: objects", ("B", "K", self.object_dim))
        b, k, _ = objects.shape
        check_shape(anchor, "RelationModule: anchor", (b, self.object_dim))
        check_shape(question, "RelationModule: question", (b, self.question_dim))
        pairs = torch.cat([anchor[:, None].expand(b, k, -1), objects, question[:, None].expand(b, k, -1)], dim=-1)
        return self.g(pairs).sum(dim=1)


class RelationalReasoner(nn.Module):
    """Answer a question about a set of objects with two attention hops and a relation module.

    1. Hop 1: the question attends over the objects: scores ``s1`` (B, K), weights
       ``a1 = softmax(s1)``, the attended object ``o1`` and its position ``p1 = sum_k a1_k p_k``.
    2. Hop 2: the question attends again over the other objects (the one hop 1 weighs most is
       masked out) with two heads, each with a bias on the distance to ``p1``: ``-c |p_k - p1|``
       in the first head (it prefers the nearest object), ``+c |p_k - p1|`` in the second (the
       farthest); ``c`` is a learned sharpness. The question reads what it needs from ``o2``,
       both heads' results.
    3. Relations: ``RelationModule(o1, objects, q)``, for counting.
    4. Head: an MLP on ``[q, o1, p1, o2, relations]`` -> answer logits. With
       ``position_readout = r > 0`` the head also gets ``r`` projections of ``p1`` that the
       question chooses, ``U_j(q) . p1``: "is it on the left?" becomes one number whose sign is
       the answer. Without them the MLP must learn an XOR of the side word and the sign of x,
       which gives gradient descent no first-order signal to start from.

    Input ``objects`` (B, K, object_dim), ``positions`` (B, K, 2), ``question`` (B, question_dim).
    Output ``{"answer": (B, num_answers) logits, "named_object": (B, K) hop-1 scores,
    "related_object": (B, 2, K) hop-2 scores of the near and far heads, bias included}``: the
    two score outputs let auxiliary losses teach each hop which object to pick. With
    ``return_attention=True`` it also holds hop 1's weights ``"hop1_weights"`` (B, K) and hop 2's
    ``"hop2_weights"`` (B, 2, K), near and far heads, for pictures.
    """

    def __init__(self, object_dim: int, question_dim: int, num_answers: int, hidden_dim: int = 64,
                 sharpness: float = 20.0, position_readout: int = 0) -> None:
        super().__init__()
        if position_readout < 0:
            raise ValueError(f"RelationalReasoner: position_readout must be >= 0, got {position_readout}")
        self.object_dim, self.question_dim, self.position_readout = object_dim, question_dim, position_readout
        self.hop1 = CrossModalAttention(question_dim, object_dim, hidden_dim)
        self.hop2 = CrossModalAttention(question_dim, object_dim, hidden_dim, num_heads=2)
        self.log_sharpness = nn.Parameter(torch.tensor(float(sharpness)).log())
        self.relations = RelationModule(object_dim, question_dim, hidden_dim)
        self.head = nn.Sequential(nn.Linear(question_dim + 3 * hidden_dim + 2 + position_readout, 2 * hidden_dim),
                                  nn.ReLU(), nn.Linear(2 * hidden_dim, num_answers))
        if position_readout:
            self.readout = nn.Linear(question_dim, 2 * position_readout)  # the question's r directions in (x, y)

    def forward(self, objects: Tensor, positions: Tensor, question: Tensor,
                return_attention: bool = False) -> dict[str, Tensor]:
        check_shape(objects, "RelationalReasoner: objects", ("B", "K", self.object_dim))
        b, k, _ = objects.shape
        check_shape(positions, "RelationalReasoner: positions", (b, k, 2))
        check_shape(question, "RelationalReasoner: question", (b, self.question_dim))
        scores1 = self.hop1.scores(question, objects)[:, 0]  # (B, K), one head
        a1 = scores1.softmax(dim=-1)
        o1 = (a1[..., None] * self.hop1.to_value(objects)).sum(dim=1)
        p1 = (a1[..., None] * positions).sum(dim=1)  # (B, 2)
        distance = (positions - p1[:, None]).norm(dim=-1)  # (B, K)
        bias = self.log_sharpness.exp() * torch.stack([-distance, distance], dim=1)  # (B, 2, K): near, far
        others = torch.ones_like(a1, dtype=torch.bool).scatter(1, a1.argmax(dim=1, keepdim=True), False)
        o2, _ = self.hop2(question, objects, mask=others, bias=bias)
        anchor = (a1[..., None] * objects).sum(dim=1)
        relations = self.relations(anchor, objects, question)
        scores2 = self.hop2.scores(question, objects) + bias  # (B, 2, K), before hop 1's object is masked out
        head_input = [question, o1, p1, o2, relations]
        if self.position_readout:
            directions = self.readout(question).view(b, self.position_readout, 2)
            head_input.append((directions * p1[:, None]).sum(dim=-1))  # (B, r)
        answer = self.head(torch.cat(head_input, dim=-1))
        outputs = {"answer": answer, "named_object": scores1, "related_object": scores2}
        if return_attention:
            outputs["hop1_weights"] = a1
            outputs["hop2_weights"] = scores2.masked_fill(~others[:, None], float("-inf")).softmax(-1)
        return outputs
