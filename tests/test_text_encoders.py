import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.text import pad_sequences
from course_lib.models import unimodal_model
from course_lib.models.text_encoders import CBOW, MeanEmbedding, context_windows

VOCAB = 12
SENTENCES = [[2, 5, 7], [3, 3, 9, 11, 4], [6]]


def test_mean_embedding_matches_torch_embedding_bag():
    torch.manual_seed(0)
    encoder = MeanEmbedding(VOCAB, dim=5)
    ids, mask = pad_sequences(SENTENCES)
    bag = nn.EmbeddingBag(VOCAB, 5, mode="mean")
    bag.weight.data.copy_(encoder.embedding.weight.data)
    flat = torch.tensor([i for sentence in SENTENCES for i in sentence])
    offsets = torch.tensor([0, 3, 8])
    out = encoder(ids, mask)
    assert out.shape == (3, 5) and encoder.out_dim == 5
    torch.testing.assert_close(out, bag(flat, offsets))


def test_padding_is_ignored():
    torch.manual_seed(0)
    encoder = MeanEmbedding(VOCAB, dim=4)
    ids, mask = pad_sequences(SENTENCES)
    longer = torch.cat([ids, torch.zeros(3, 6, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(encoder(longer), encoder(ids, mask))
    torch.testing.assert_close(encoder(ids), encoder(ids, mask))  # default mask: ids != pad_id


def test_explicit_mask_leaves_out_real_ids():
    torch.manual_seed(0)
    encoder = MeanEmbedding(VOCAB, dim=4)
    ids = torch.tensor([[2, 5, 7]])
    first_two = encoder(ids, torch.tensor([[True, True, False]]))
    torch.testing.assert_close(first_two, encoder(torch.tensor([[2, 5]])))


def test_a_sentence_without_tokens_gives_zeros():
    encoder = MeanEmbedding(VOCAB, dim=4)
    out = encoder(torch.tensor([[0, 0, 0], [1, 2, 0]]))
    torch.testing.assert_close(out[0], torch.zeros(4))
    assert out[1].abs().sum() > 0


def test_gradients_reach_real_tokens_only():
    torch.manual_seed(0)
    encoder = MeanEmbedding(VOCAB, dim=4)
    ids = torch.tensor([[2, 5, 7, 0], [4, 4, 0, 0]])
    mask = torch.tensor([[True, True, False, False], [True, True, False, False]])  # id 7 masked out
    encoder(ids, mask).pow(2).sum().backward()
    grad = encoder.embedding.weight.grad
    touched = grad.abs().sum(dim=1) > 0
    assert touched.tolist() == [i in (2, 4, 5) for i in range(VOCAB)]


def test_works_as_the_text_encoder_of_a_multimodal_model():
    torch.manual_seed(0)
    encoder = MeanEmbedding(VOCAB, dim=8)
    model = unimodal_model("question", encoder, num_classes=6).eval()
    ids, _ = pad_sequences(SENTENCES)
    logits = model({"question": ids, "label": torch.zeros(3)})
    table = encoder.embedding.weight
    means = torch.stack([table[torch.tensor(sentence)].mean(dim=0) for sentence in SENTENCES])  # padding left out
    assert logits.shape == (3, 6)
    torch.testing.assert_close(logits, model.head(means))


@pytest.mark.parametrize(
    ("ids", "mask", "error", "match"),
    [
        (torch.tensor([1, 2, 3]), None, ValueError, r"text ids must have shape \(B, L\), got \(3,\)"),
        (torch.tensor([[1.0, 2.0]]), None, TypeError, "integer tensor"),
        (torch.tensor([[1, VOCAB]]), None, ValueError, r"\[0, 12\).*from 1 to 12"),
        (torch.tensor([[1, -1]]), None, ValueError, r"\[0, 12\)"),
        (torch.tensor([[1, 2]]), torch.tensor([[True, True, False]]), ValueError,
         r"text mask must have shape \(1, 2\), got \(1, 3\)"),
        (torch.tensor([[1, 2]]), torch.tensor([[1, 1]]), TypeError, "bool"),
    ],
)
def test_bad_input_gives_clear_errors(ids, mask, error, match):
    with pytest.raises(error, match=match):
        MeanEmbedding(VOCAB, dim=4)(ids, mask)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"vocab_size": 0}, "vocab_size"),
    ({"vocab_size": VOCAB, "dim": 0}, "dim"),
    ({"vocab_size": VOCAB, "pad_id": VOCAB}, "pad_id"),
])
def test_bad_construction_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MeanEmbedding(**kwargs)


def test_context_windows_by_hand():
    contexts, targets = context_windows([[5, 6, 7], [8]], window=2, pad_id=0)
    assert targets.tolist() == [5, 6, 7, 8]
    assert contexts.tolist() == [
        [0, 0, 6, 7],
        [0, 5, 7, 0],
        [5, 6, 0, 0],
        [0, 0, 0, 0],
    ]
    assert contexts.dtype == targets.dtype == torch.int64


def test_context_windows_errors():
    with pytest.raises(ValueError, match="window"):
        context_windows([[1, 2]], window=0)
    with pytest.raises(ValueError, match="no tokens"):
        context_windows([[], []])


def train_cbow(seed: int) -> CBOW:
    """Words 2 and 3 share their contexts (4 _ 5), as do 6 and 7 (8 _ 9)."""
    contexts, targets = context_windows([[4, 2, 5], [4, 3, 5], [8, 6, 9], [8, 7, 9]], window=1)
    torch.manual_seed(seed)
    model = CBOW(10, dim=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(model(contexts), targets).backward()
        optimizer.step()
    return model


def test_cbow_shapes_and_gradients():
    model = CBOW(10, dim=8)
    contexts, targets = context_windows([[4, 2, 5]], window=2)
    logits = model(contexts)
    assert logits.shape == (3, 10)
    F.cross_entropy(logits, targets).backward()
    assert model.context.embedding.weight.grad[4].abs().sum() > 0
    assert model.context.embedding.weight.grad[0].abs().sum() == 0  # padding never learns
    assert model.word_vectors.shape == (10, 8) and not model.word_vectors.requires_grad


def test_cbow_gives_words_in_the_same_contexts_similar_vectors():
    vectors = F.normalize(train_cbow(seed=0).word_vectors, dim=1)
    similarity = vectors @ vectors.T
    assert similarity[2, 3] > 0.7 and similarity[6, 7] > 0.7
    assert similarity[[2, 3]][:, [6, 7]].max() < 0.3


def test_cbow_training_is_deterministic_under_a_seed():
    torch.testing.assert_close(train_cbow(seed=1).word_vectors, train_cbow(seed=1).word_vectors)
