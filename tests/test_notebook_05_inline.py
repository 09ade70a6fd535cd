"""The pieces notebook 05 builds inline agree with the libraries it switches to.

The cells tagged ``inline`` define a bag of words and TF-IDF by hand (checked against
scikit-learn's ``CountVectorizer`` and ``TfidfVectorizer``) and a masked mean over tokens
(checked against ``course_lib.features.text_encoder.mean_pool`` and
``course_lib.models.text_encoders.MeanEmbedding``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from course_lib.data.text import pad_sequences
from course_lib.features.text_encoder import mean_pool
from course_lib.models.text_encoders import MeanEmbedding

from notebook_cells import inline_fixture

SENTENCES = [
    "What shape is the red object?",
    "How many things share the grey item's shape?",
    "Is the blue thing on the LEFT side of the picture?",
    "Count the objects that are shaped like the yellow one.",
    "the the the red red, a 2 x 42 objects!",
    "Which shape is nearest to the green item?",
]


inline = inline_fixture("05_text_representations.ipynb")


def test_bag_of_words_matches_count_vectorizer(inline):
    vocabulary, counts = inline["bag_of_words"](SENTENCES)
    vectorizer = CountVectorizer().fit(SENTENCES)
    assert vocabulary == vectorizer.get_feature_names_out().tolist()
    assert counts.shape == (len(SENTENCES), len(vocabulary))
    np.testing.assert_array_equal(counts, vectorizer.transform(SENTENCES).toarray())
    assert counts[4, vocabulary.index("the")] == 3


@pytest.mark.parametrize("sentences", [SENTENCES, SENTENCES[:2], SENTENCES + ["a ?"]])
def test_tf_idf_matches_tfidf_vectorizer(inline, sentences):
    _, counts = inline["bag_of_words"](sentences)
    weights = inline["tf_idf"](counts)
    reference = TfidfVectorizer().fit_transform(sentences).toarray()  # "a ?" has no token: a zero row
    np.testing.assert_allclose(weights, reference, atol=1e-12)


def test_masked_mean_matches_mean_pool_and_ignores_padding(inline):
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(3, 5, 4, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    mine = inline["masked_mean"](vectors, mask)
    torch.testing.assert_close(mine, mean_pool(vectors, mask))
    torch.testing.assert_close(mine[0], vectors[0, :3].mean(dim=0))
    changed = vectors.clone()
    changed[mask == 0] = 100.0
    torch.testing.assert_close(inline["masked_mean"](changed, mask.bool()), mine)


def test_masked_mean_of_embeddings_is_mean_embedding(inline):
    torch.manual_seed(0)
    encoder = MeanEmbedding(vocab_size=10, dim=6)
    ids, mask = pad_sequences([[2, 3, 4], [5], [6, 7, 8, 9, 2]])
    torch.testing.assert_close(inline["masked_mean"](encoder.embedding(ids), mask), encoder(ids, mask))
