"""Notebook 05's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from torch import nn

from course_lib import config
from course_lib.data.text import Vocabulary, pad_sequences
from course_lib.exercises import nb05
from course_lib.models.text_encoders import MeanEmbedding

from exercise_checks import strict_fails

COLOURS = ("red", "green", "blue", "gray")
WORDINGS = ("what shape is the {} item", "is the {} thing a square", "is the {} object on the left side",
            "does the {} item lie on the left", "which shape is closest to the {} one")
SUBTYPE_OF_WORDING = (0, 0, 1, 1, 2)


@pytest.fixture(scope="module")
def corpus():
    """Sentences of five wordings and three subtypes, a pool/test split, and the notebook's two helpers."""
    sentences, subtype, wording = [], [], []
    for w, text in enumerate(WORDINGS):
        for colour in COLOURS:
            for suffix in ("", " here", " now"):
                sentences.append(text.format(colour) + suffix)
                subtype.append(SUBTYPE_OF_WORDING[w])
                wording.append(w)
    subtype, wording = np.array(subtype), np.array(wording)
    test = np.arange(0, len(sentences), 3)
    pool = np.setdiff1d(np.arange(len(sentences)), test)

    def draw(rows, per_class, rng):
        return np.concatenate([rng.choice(rows[subtype[rows] == s], size=min(per_class, np.sum(subtype[rows] == s)),
                                          replace=False) for s in np.unique(subtype[rows])])

    def learning_curve(features, train_rows, test_rows):
        accuracies = []
        for per_class in (1, None):
            rows = train_rows if per_class is None else draw(train_rows, per_class, np.random.default_rng(0))
            model = LogisticRegression(C=10, max_iter=500).fit(features[rows], subtype[rows])
            accuracies.append(float(model.score(features[test_rows], subtype[test_rows])))
        return accuracies, model.predict(features[test_rows])

    return {"sentences": sentences, "subtype": subtype, "wording": wording, "pool": pool, "test": test,
            "draw": draw, "learning_curve": learning_curve}


def _curves(vectorizer, c):
    features = vectorizer.fit([c["sentences"][i] for i in c["pool"]]).transform(c["sentences"]).toarray()
    pool, test, wording = c["pool"], c["test"], c["wording"]
    unseen = np.mean([c["learning_curve"](features, pool[wording[pool] != w], test[wording[test] == w])[0]
                      for w in range(len(WORDINGS))], axis=0)
    return {"seen": c["learning_curve"](features, pool, test)[0], "unseen": unseen.tolist()}


@pytest.mark.parametrize("number, vectorizer", [(1, {"ngram_range": (1, 2)}), (2, {"stop_words": "english"})])
def test_exercises_1_and_2(number, vectorizer, corpus, capsys, monkeypatch):
    check = getattr(nb05, f"exercise_{number}")
    args = [corpus[k] for k in ("learning_curve", "sentences", "pool", "test", "wording")]
    right = _curves(TfidfVectorizer(**vectorizer), corpus)
    assert check(right, *args)
    plain = _curves(TfidfVectorizer(), corpus)
    assert plain != right  # plain TF-IDF differs on this corpus, so it must be refused
    assert not check(plain, *args)
    assert "differs from the reference" in capsys.readouterr().out
    assert not check({"seen": right["seen"][:1], "unseen": right["unseen"]}, *args)
    assert "should hold 2 accuracies" in capsys.readouterr().out
    assert not check(None, *args)
    strict_fails(monkeypatch, check, plain, *args)


def test_exercise_3(corpus, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    n = len(corpus["sentences"])
    representations = {"TF-IDF": (rng.random((n, 6)), 0.0), "all-MiniLM-L6-v2": (rng.normal(size=(n, 8)), 0.0)}
    args = (representations, corpus["pool"], corpus["test"], corpus["subtype"], corpus["draw"], 3)
    right = {}
    for name, (features, _) in representations.items():
        unit = features / np.linalg.norm(features, axis=1, keepdims=True)
        scores = []
        for repeat in range(3):
            rows = corpus["draw"](corpus["pool"], 1, np.random.default_rng(repeat))
            nearest = (unit[corpus["test"]] @ unit[rows].T).argmax(axis=1)
            scores.append(np.mean(corpus["subtype"][rows][nearest] == corpus["subtype"][corpus["test"]]))
        right[name] = float(np.mean(scores))
    assert nb05.exercise_3(right, *args)
    assert not nb05.exercise_3({**right, "TF-IDF": right["TF-IDF"] + 0.1}, *args)
    assert "nearest-sentence accuracy of TF-IDF" in capsys.readouterr().out
    assert not nb05.exercise_3({"TF-IDF": right["TF-IDF"]}, *args)
    assert not nb05.exercise_3(None, *args)
    strict_fails(monkeypatch, nb05.exercise_3, {"TF-IDF": 0.0, "all-MiniLM-L6-v2": 0.0}, *args)


def test_exercise_4(corpus, capsys, monkeypatch):
    vocab = Vocabulary.build(corpus["sentences"] + ["the closest item"])
    generator = torch.Generator().manual_seed(0)
    vectors = {w: torch.randn(len(vocab), 16, generator=generator) for w in (1, 4)}

    def nearest(v, word):
        unit = F.normalize(v, dim=1)
        row = unit @ unit[vocab.token_to_id[word]]
        row[[vocab.token_to_id[word], vocab.pad_id, vocab.unk_id]] = -2
        return [vocab.id_to_token[i] for i in row.topk(4).indices.tolist()]

    right = {w: {word: nearest(v, word) for word in ("closest", "left", "red")} for w, v in vectors.items()}
    assert nb05.exercise_4(vectors, right, vocab)
    swapped = {1: right[4], 4: right[1]}
    assert not nb05.exercise_4(vectors, swapped, vocab)
    assert "4 nearest words of 'closest' with window 1" in capsys.readouterr().out
    assert not nb05.exercise_4({1: vectors[1], 4: vectors[1]}, {1: right[1], 4: right[1]}, vocab)
    assert "the same" in capsys.readouterr().out
    assert not nb05.exercise_4({1: vectors[1][:, :8], 4: vectors[4]}, right, vocab)
    assert not nb05.exercise_4(vectors, None, vocab)
    strict_fails(monkeypatch, nb05.exercise_4, vectors, swapped, vocab)


@pytest.fixture
def one_thread():
    """Tiny models train many times faster on one thread than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_exercise_5(corpus, one_thread, capsys, monkeypatch):
    sentences, subtype, pool, test = corpus["sentences"], corpus["subtype"], corpus["pool"], corpus["test"]
    vocab = Vocabulary.build([sentences[i] for i in pool])
    rows = corpus["draw"](pool, 5, np.random.default_rng(0))
    ids, mask = pad_sequences([vocab.encode(sentences[i]) for i in rows])
    test_ids, test_mask = pad_sequences([vocab.encode(sentences[i]) for i in test])
    config.seed_everything(0)
    encoder, head = MeanEmbedding(len(vocab), 16), nn.Linear(16, 3)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=0.01)
    for _ in range(50):
        loss = F.cross_entropy(head(encoder(ids, mask)), torch.from_numpy(subtype[rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        right = float((head(encoder(test_ids, test_mask)).argmax(1).numpy() == subtype[test]).mean())
    args = (vocab, sentences, pool, test, subtype, corpus["draw"])
    assert nb05.exercise_5(right, *args, steps=50)
    wrong = right - 0.25
    assert not nb05.exercise_5(wrong, *args, steps=50)
    assert "end_to_end_accuracy is" in capsys.readouterr().out
    assert not nb05.exercise_5("high", *args, steps=50)
    assert not nb05.exercise_5(None, *args, steps=50)
    strict_fails(monkeypatch, nb05.exercise_5, wrong, *args, 50)
