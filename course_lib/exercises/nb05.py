"""Checks of notebook 05's exercises (text representations of the Sort-of-CLEVR-Text questions).

The checks recompute each reference with the notebook's own split (``pool``, ``test``, ``wording``)
and its functions (``learning_curve``, ``draw``), which they take as arguments.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits
from torch import nn

from course_lib import config
from course_lib.data.text import Vocabulary, pad_sequences
from course_lib.exercises.core import NotYet, close, exercise, require
from course_lib.models.text_encoders import MeanEmbedding

WORDINGS = 5
NEIGHBOUR_WORDS = ("closest", "left", "red")


def tfidf_curves(vectorizer: TfidfVectorizer, learning_curve: Callable, sentences: Sequence[str], pool: np.ndarray,
                 test: np.ndarray, wording: np.ndarray) -> dict[str, list[float]]:
    """Section 6's two learning curves of TF-IDF features made by ``vectorizer`` (fitted on the pool sentences)."""
    features = vectorizer.fit([sentences[i] for i in pool]).transform(sentences).toarray()
    with threadpool_limits(limits=1):
        seen, _ = learning_curve(features, pool, test)
        folds = [learning_curve(features, pool[wording[pool] != w], test[wording[test] == w])[0]
                 for w in range(WORDINGS)]
    return {"seen": list(seen), "unseen": np.mean(folds, axis=0).tolist()}


def _compare_curves(answer: object, expected: dict[str, list[float]], what: str, hint: str) -> None:
    require(isinstance(answer, Mapping) and {"seen", "unseen"} <= set(answer),
            f"{what} should be a dict with the keys 'seen' and 'unseen', like curves['TF-IDF'].")
    for setting, reference in expected.items():
        values = np.asarray(answer[setting], dtype=float)
        require(values.shape == (len(reference),),
                f"{what}[{setting!r}] should hold {len(reference)} accuracies (one per entry of SHOTS, then 'all'), "
                f"got shape {values.shape}.")
        worst = int(np.argmax(np.abs(values - reference)))
        require(np.allclose(values, reference, atol=1e-9),
                f"{what}[{setting!r}] differs from the reference at entry {worst}: {values[worst]:.3f} against "
                f"{reference[worst]:.3f}. Hint: {hint}")


@exercise("05", 1)
def exercise_1(bigram_curves: Mapping[str, list[float]], learning_curve: Callable, sentences: Sequence[str],
               pool: np.ndarray, test: np.ndarray, wording: np.ndarray) -> str:
    """``bigram_curves``: {"seen": [...], "unseen": [...]} of TfidfVectorizer(ngram_range=(1, 2))."""
    expected = tfidf_curves(TfidfVectorizer(ngram_range=(1, 2)), learning_curve, sentences, pool, test, wording)
    _compare_curves(bigram_curves, expected, "bigram_curves",
                    "fit TfidfVectorizer(ngram_range=(1, 2)) on pool_sentences, transform every sentence, and "
                    "compute both curves as section 6 does (unseen: the mean over the five held-out wordings).")
    return None


@exercise("05", 2)
def exercise_2(stopword_curves: Mapping[str, list[float]], learning_curve: Callable, sentences: Sequence[str],
               pool: np.ndarray, test: np.ndarray, wording: np.ndarray) -> str:
    """``stopword_curves``: {"seen": [...], "unseen": [...]} of TfidfVectorizer(stop_words="english")."""
    expected = tfidf_curves(TfidfVectorizer(stop_words="english"), learning_curve, sentences, pool, test, wording)
    _compare_curves(stopword_curves, expected, "stopword_curves",
                    "fit TfidfVectorizer(stop_words='english') on pool_sentences, transform every sentence, and "
                    "compute both curves as section 6 does (unseen: the mean over the five held-out wordings).")
    return None


def nearest_labelled(features: np.ndarray, pool: np.ndarray, test: np.ndarray, subtype: np.ndarray,
                     draw: Callable, repeats: int) -> float:
    """Mean test accuracy of the most cosine-similar labelled sentence, one per subtype, over ``repeats`` draws."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    scores = []
    for repeat in range(repeats):
        rows = draw(pool, 1, np.random.default_rng(repeat))
        nearest = (unit[test] @ unit[rows].T).argmax(axis=1)
        scores.append(np.mean(subtype[rows][nearest] == subtype[test]))
    return float(np.mean(scores))


@exercise("05", 3)
def exercise_3(nearest_accuracy: Mapping[str, float], representations: Mapping[str, tuple[np.ndarray, float]],
               pool: np.ndarray, test: np.ndarray, subtype: np.ndarray, draw: Callable, repeats: int) -> str:
    """``nearest_accuracy``: {"TF-IDF": ..., "all-MiniLM-L6-v2": ...}, mean accuracy over ``repeats`` draws."""
    names = ("TF-IDF", "all-MiniLM-L6-v2")
    require(isinstance(nearest_accuracy, Mapping) and set(names) <= set(nearest_accuracy),
            f"nearest_accuracy should be a dict with the keys {list(names)}.")
    for name in names:
        expected = nearest_labelled(representations[name][0], pool, test, subtype, draw, repeats)
        close(nearest_accuracy[name], expected, f"the nearest-sentence accuracy of {name}", 1e-9,
              "for each repeat r, draw(pool, 1, np.random.default_rng(r)); give each test sentence the subtype of "
              "the labelled sentence with the largest cosine similarity; average over the REPEATS draws.")
    return None


def nearest_words(vectors: torch.Tensor, vocab: Vocabulary, word: str, k: int = 4) -> list[str]:
    """The ``k`` words whose vectors (V, D) are most cosine-similar to ``word``'s, leaving out itself and the specials."""
    unit = F.normalize(torch.as_tensor(vectors, dtype=torch.float32), dim=1)
    similarity = unit @ unit[vocab.token_to_id[word]]
    similarity[[vocab.token_to_id[word], vocab.pad_id, vocab.unk_id]] = -2
    return [vocab.id_to_token[i] for i in similarity.topk(k).indices.tolist()]


@exercise("05", 4)
def exercise_4(window_vectors: Mapping[int, torch.Tensor], window_neighbours: Mapping[int, Mapping[str, list[str]]],
               vocab: Vocabulary) -> str:
    """``window_vectors``: {1: (V, 16), 4: (V, 16)} CBOW word vectors; ``window_neighbours``: {window: {word: 4 words}}."""
    for name, answer in (("window_vectors", window_vectors), ("window_neighbours", window_neighbours)):
        require(isinstance(answer, Mapping) and {1, 4} <= set(answer), f"{name} should be a dict with the keys 1 and 4.")
    for window in (1, 4):
        vectors = torch.as_tensor(window_vectors[window])
        require(tuple(vectors.shape) == (len(vocab), 16),
                f"window_vectors[{window}] should be the (V, D) = ({len(vocab)}, 16) word vectors of the CBOW, "
                f"got {tuple(vectors.shape)}. Hint: model.word_vectors after training.")
        for word in NEIGHBOUR_WORDS:
            expected = nearest_words(vectors, vocab, word)
            got = list(window_neighbours[window].get(word, [])) if isinstance(window_neighbours[window], Mapping) else []
            require(got == expected, f"the 4 nearest words of {word!r} with window {window} are {expected}, not {got}. "
                                     "Hint: cosine similarity of the unit word vectors; leave out the word itself, "
                                     "<pad> and <unk>.")
    require(not torch.allclose(torch.as_tensor(window_vectors[1]), torch.as_tensor(window_vectors[4])),
            "the vectors of the two windows are the same. Hint: build the training pairs with "
            "context_windows(..., window=window) for each window.")
    return None


@exercise("05", 5)
def exercise_5(end_to_end_accuracy: float, vocab: Vocabulary, sentences: Sequence[str], pool: np.ndarray,
               test: np.ndarray, subtype: np.ndarray, draw: Callable, steps: int = 300) -> str:
    """``end_to_end_accuracy``: test accuracy of MeanEmbedding(V, 16) + Linear(16, 6) trained on 5 sentences a subtype."""
    rows = draw(pool, 5, np.random.default_rng(0))
    ids, mask = pad_sequences([vocab.encode(sentences[i]) for i in rows])
    test_ids, test_mask = pad_sequences([vocab.encode(sentences[i]) for i in test])
    classes = int(subtype.max()) + 1
    config.seed_everything(0)
    encoder, head = MeanEmbedding(len(vocab), 16), nn.Linear(16, classes)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=0.01)
    targets = torch.from_numpy(subtype[rows])
    for _ in range(steps):
        loss = F.cross_entropy(head(encoder(ids, mask)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        expected = float((head(encoder(test_ids, test_mask)).argmax(1).numpy() == subtype[test]).mean())
    try:
        value = float(end_to_end_accuracy)
    except (TypeError, ValueError):
        raise NotYet("end_to_end_accuracy should be a number, the test accuracy.") from None
    close(value, expected, "end_to_end_accuracy", 1e-6,
          "draw(pool, 5, np.random.default_rng(0)); config.seed_everything(0) right before building MeanEmbedding and "
          "the Linear head; Adam with lr 0.01; 300 steps on the whole labelled batch; score every test sentence.")
    return None
