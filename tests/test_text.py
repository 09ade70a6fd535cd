"""Tests of the word tokenizer, the vocabulary and pad_sequences."""
import json

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from course_lib.data.collate import pad_collate
from course_lib.data.text import PAD, UNK, Vocabulary, pad_sequences, tokenize

TEXTS = [
    "What shape is the red object?",
    "How many things share the green object's shape?",
    "Is the red thing on the left side of the picture?",
]


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Is the RED thing on the left?") == ["is", "the", "red", "thing", "on", "the", "left", "?"]
    assert tokenize("the green object's shape.") == ["the", "green", "object", "'s", "shape", "."]
    assert tokenize("  6 objects,  3 squares ") == ["6", "objects", ",", "3", "squares"]
    assert tokenize("") == []


def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(["a", "list"])


def test_vocabulary_reserves_pad_and_unk_and_orders_by_frequency():
    vocab = Vocabulary.build(TEXTS)
    assert vocab.id_to_token[:2] == [PAD, UNK]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.id_to_token[2] == "the"  # 5 times, the most frequent token
    counts = {t: sum(tokenize(text).count(t) for text in TEXTS) for t in vocab.id_to_token[2:]}
    ordered = sorted(counts, key=lambda t: (-counts[t], t))
    assert vocab.id_to_token[2:] == ordered
    assert len(vocab) == 2 + len(counts)
    assert "red" in vocab and "purple" not in vocab


def test_vocabulary_min_freq_keeps_frequent_tokens_only():
    vocab = Vocabulary.build(TEXTS, min_freq=2)
    assert vocab.id_to_token[2:] == ["the", "?", "is", "object", "red", "shape"]  # 5, 3, then 2 times
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build(TEXTS, min_freq=0)


def test_encode_decode_round_trip_and_unknown_words():
    vocab = Vocabulary.build(TEXTS)
    for text in TEXTS:
        ids = vocab.encode(text)
        assert all(i >= 2 for i in ids)
        assert vocab.decode(ids) == " ".join(tokenize(text))
    ids = vocab.encode("Is the purple thing round?")
    assert ids[2] == vocab.unk_id and ids[4] == vocab.unk_id
    assert vocab.decode(ids) == f"is the {UNK} thing {UNK} ?"
    assert vocab.decode([vocab.token_to_id["red"], 0, 0]) == "red"  # padding is dropped
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([len(vocab)])


def test_save_and_load_json_round_trip(tmp_path):
    vocab = Vocabulary.build(TEXTS)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert json.loads(path.read_text())["tokens"] == vocab.id_to_token
    loaded = Vocabulary.load(path)
    assert loaded.id_to_token == vocab.id_to_token
    assert len(loaded) == len(vocab)
    assert loaded.encode(TEXTS[1]) == vocab.encode(TEXTS[1])


def test_vocabulary_rejects_bad_token_lists():
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["the", "red"])
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary([PAD, UNK, "red", "red"])


def test_pad_sequences_matches_torch_pad_sequence():
    sequences = [[5, 6, 7], [8], [9, 10]]
    ids, mask = pad_sequences(sequences)
    assert ids.dtype == torch.int64 and mask.dtype == torch.bool
    assert ids.shape == mask.shape == (3, 3)
    expected = pad_sequence([torch.tensor(s) for s in sequences], batch_first=True, padding_value=0)
    assert torch.equal(ids, expected)
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert mask.sum(dim=1).tolist() == [3, 1, 2]


def test_pad_sequences_custom_pad_id_empty_sequence_and_errors():
    ids, mask = pad_sequences([[], [4, 4]], pad_id=-1)
    assert ids.tolist() == [[-1, -1], [4, 4]]
    assert mask.tolist() == [[False, False], [True, True]]
    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([])


def test_pad_sequences_agrees_with_pad_collate():
    vocab = Vocabulary.build(TEXTS)
    encoded = [vocab.encode(text) for text in TEXTS]
    ids, mask = pad_sequences(encoded)
    batch = pad_collate([{"question": torch.tensor(e)} for e in encoded])
    assert torch.equal(batch["question"], ids)
    assert torch.equal(batch["question_mask"], mask)
