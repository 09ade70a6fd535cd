"""Word-level text processing: a tokenizer, a vocabulary and padding.

The pipeline from a sentence to a batch of token ids::

    vocab = Vocabulary.build(train_texts)          # learn the words of the training set
    ids = [vocab.encode(text) for text in texts]   # sentence -> list of ints
    batch, mask = pad_sequences(ids)               # (B, L) int64 ids, (B, L) bool mask
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

PAD = "<pad>"
UNK = "<unk>"

# A word (letters and digits), the possessive "'s", or any other single non-space character.
_TOKEN_PATTERN = re.compile(r"'s\b|[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words and punctuation marks.

    >>> tokenize("How many things share the green object's shape?")
    ['how', 'many', 'things', 'share', 'the', 'green', 'object', "'s", 'shape', '?']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN_PATTERN.findall(text.lower())


class Vocabulary:
    """A two-way map between tokens and integer ids.

    Id 0 is ``<pad>`` (filler for padding) and id 1 is ``<unk>`` (any word not seen
    when the vocabulary was built). The other tokens follow, most frequent first.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        """Make a vocabulary whose id ``i`` is ``tokens[i]``; ``tokens`` starts with ``<pad>``, ``<unk>``."""
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"tokens must start with [{PAD!r}, {UNK!r}], got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must not contain duplicates")
        self.id_to_token: list[str] = tokens
        self.token_to_id: dict[str, int] = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1) -> Vocabulary:
        """Count the tokens of ``texts`` (the training texts only) and keep those seen ``min_freq`` times.

        Ties in frequency are broken alphabetically, so the same texts always give the same ids.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts = Counter(token for text in texts for token in tokenize(text))
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept])

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.id_to_token)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_id

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; unknown words become ``unk_id``."""
        return [self.token_to_id.get(token, self.unk_id) for token in tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens of ``ids`` joined by spaces, padding left out."""
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"token id {i} is outside the vocabulary of size {len(self)}")
            if i != self.pad_id:
                tokens.append(self.id_to_token[i])
        return " ".join(tokens)

    def save(self, path: str | Path) -> None:
        """Write the tokens, in id order, to a JSON file."""
        Path(path).write_text(json.dumps({"tokens": self.id_to_token}, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["tokens"])

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)})"


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists to the length L of the longest one.

    Returns ``ids`` of shape (B, L), int64, filled with ``pad_id`` after each sequence's end,
    and ``mask`` of shape (B, L), bool, True where there is a real token.
    """
    if len(sequences) == 0:
        raise ValueError("sequences must hold at least one sequence")
    max_len = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), max_len), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(sequences), max_len), dtype=torch.bool)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.int64)
        mask[row, : len(seq)] = True
    return ids, mask
