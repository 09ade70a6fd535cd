"""Word embeddings learned from scratch: a bag-of-embeddings text encoder and a CBOW model.

A sentence of token ids becomes one vector by averaging the embeddings of its real tokens
(padding is left out), the neural cousin of a bag of words::

    encoder = MeanEmbedding(vocab_size=len(vocab), dim=32)
    ids, mask = pad_sequences([vocab.encode(q) for q in questions])   # (B, L), (B, L)
    vectors = encoder(ids, mask)                                      # (B, 32)

The word vectors themselves can be learned without labels by CBOW (continuous bag of words,
Mikolov et al. 2013): predict each word from the words around it, so that words used in the
same contexts ("closest" and "nearest") end up with similar vectors::

    contexts, targets = context_windows([vocab.encode(q) for q in questions], window=2)
    model = CBOW(len(vocab), dim=16)
    loss = F.cross_entropy(model(contexts), targets)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib.models.checks import can_read_values, check_shape
from course_lib.models.temporal_fusion import masked_mean


def _check_ids(ids: Tensor, vocab_size: int, owner: str) -> None:
    """Raise unless ``ids`` is an integer (B, L) tensor of ids in ``[0, vocab_size)``.

    The range is checked in eager mode only (see :func:`~course_lib.models.checks.can_read_values`).
    """
    check_shape(ids, f"{owner}: text ids", ("B", "L"))
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(f"{owner}: text ids must be an integer tensor, got {ids.dtype}")
    if can_read_values() and ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(
            f"{owner}: text ids must lie in [0, {vocab_size}) (the vocabulary size), "
            f"got values from {int(ids.min())} to {int(ids.max())}"
        )


class MeanEmbedding(nn.Module):
    """Token ids (B, L) -> the mean of the embeddings of the real tokens (B, dim).

    Args:
        vocab_size: number of token ids (``len(vocab)``).
        dim: size of each word vector; also the output size (``out_dim``).
        pad_id: the id of ``<pad>``; its embedding is kept at zero and never trained.

    ``forward(ids, mask=None)``: ``mask`` (B, L) bool is True at real tokens; without it,
    every position whose id is not ``pad_id`` counts. A sentence with no real token gets
    the zero vector. Called with ids alone, it fits ``MultimodalModel`` as the encoder of
    a text modality.
    """

    def __init__(self, vocab_size: int, dim: int = 32, pad_id: int = 0) -> None:
        super().__init__()
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"MeanEmbedding: vocab_size must be a positive int, got {vocab_size!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"MeanEmbedding: dim must be a positive int, got {dim!r}")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"MeanEmbedding: pad_id must lie in [0, {vocab_size}), got {pad_id!r}")
        self.vocab_size = vocab_size
        self.out_dim = dim
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)

    def forward(self, ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """ids (B, L) int, mask (B, L) bool or None -> (B, dim)."""
        _check_ids(ids, self.vocab_size, "MeanEmbedding")
        if mask is None:
            mask = ids != self.pad_id
        else:
            check_shape(mask, "MeanEmbedding: text mask", tuple(ids.shape))
            if mask.dtype != torch.bool:
                raise TypeError(f"MeanEmbedding: text mask must be a bool tensor, got {mask.dtype}")
        return masked_mean(self.embedding(ids), mask)

    @property
    def word_vectors(self) -> Tensor:
        """The embedding table (vocab_size, dim), detached: row ``i`` is the vector of token id ``i``."""
        return self.embedding.weight.detach()


class CBOW(nn.Module):
    """Continuous bag of words: context ids (B, 2W) -> logits over the vocabulary (B, vocab_size).

    The context words are averaged by a :class:`MeanEmbedding` (padding at the sentence
    edges is left out) and a linear layer scores every word of the vocabulary as the
    missing centre word. Train it with cross-entropy against the centre word; the learned
    word vectors are ``model.word_vectors``.
    """

    def __init__(self, vocab_size: int, dim: int = 16, pad_id: int = 0) -> None:
        super().__init__()
        self.context = MeanEmbedding(vocab_size, dim, pad_id)
        self.output = nn.Linear(dim, vocab_size)

    def forward(self, contexts: Tensor) -> Tensor:
        """contexts (B, 2W) int -> logits (B, vocab_size)."""
        return self.output(self.context(contexts))

    @property
    def word_vectors(self) -> Tensor:
        """The learned word vectors (vocab_size, dim), detached."""
        return self.context.word_vectors


def context_windows(
    sequences: Sequence[Sequence[int]], window: int = 2, pad_id: int = 0
) -> tuple[Tensor, Tensor]:
    """Every token of every sequence as a CBOW example: its neighbours and itself.

    Args:
        sequences: token-id lists (sentences), e.g. ``[vocab.encode(q) for q in questions]``.
        window: neighbours taken on each side of the centre word.
        pad_id: filler where the window runs past the start or end of a sentence.

    Returns:
        ``contexts`` (N, 2 * window) int64: the ``window`` ids before the centre word, then
        the ``window`` ids after it; ``targets`` (N,) int64: the centre words. N is the
        total number of tokens.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"context_windows: window must be a positive int, got {window!r}")
    contexts: list[list[int]] = []
    targets: list[int] = []
    for sequence in sequences:
        padded = [pad_id] * window + [int(i) for i in sequence] + [pad_id] * window
        for centre in range(window, len(padded) - window):
            contexts.append(padded[centre - window : centre] + padded[centre + 1 : centre + window + 1])
            targets.append(padded[centre])
    if not targets:
        raise ValueError("context_windows: sequences hold no tokens")
    return torch.tensor(contexts, dtype=torch.int64), torch.tensor(targets, dtype=torch.int64)
