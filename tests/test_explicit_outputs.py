"""What the notebooks draw comes from return values and explicit arguments, and equals what the model computes."""
import pytest
import torch
from torch import nn

from course_lib.data import sort_of_clevr as soc
from course_lib.experiments import av_digits_fusion as avf
from course_lib.experiments import av_digits_video_fusion as avvf
from course_lib.experiments import sort_of_clevr_vqa as vqa
from course_lib.models import ImageEncoder


def av_batch(n: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.rand(n, 1, 28, 28, generator=generator),
            "audio": torch.randn(n, avf.N_MELS, 51, generator=generator)}


def test_gated_model_returns_its_gate_and_the_same_logits():
    torch.manual_seed(0)
    model = avf.build_model("gated").eval()
    batch = av_batch()
    logits, gate = model(batch, return_weights=True)
    torch.testing.assert_close(logits, model(batch))
    assert gate.shape == (5, 2)
    torch.testing.assert_close(gate.sum(dim=1), torch.ones(5))
    _, expected = model.fusion(model.encode(batch), return_weights=True)
    torch.testing.assert_close(gate, expected)
    with pytest.raises(TypeError, match="ConcatFusion has no weights"):
        avf.build_model("concat")(batch, return_weights=True)


def test_image_encoder_feature_maps_and_filters_are_the_forward_pass():
    torch.manual_seed(0)
    encoder = ImageEncoder(out_dim=8, channels=(4, 6)).eval()
    images = torch.rand(2, 1, 28, 28)
    first, second = encoder.feature_maps(images)
    assert first.shape == (2, 4, 28, 28) and second.shape == (2, 6, 14, 14) and (first >= 0).all()
    pooled = nn.functional.max_pool2d(second, 2).mean(dim=(2, 3))  # the rest of the encoder
    torch.testing.assert_close(encoder.cnn.proj(pooled), encoder(images))
    filters = encoder.filters()
    assert filters.shape == (4, 1, 3, 3) and not filters.requires_grad
    direct = nn.functional.conv2d(images, filters, padding=1)
    block = encoder.cnn.blocks[0]
    torch.testing.assert_close(block[2](block[1](direct)), first)


@pytest.fixture(scope="module")
def vqa_data() -> vqa.VQAData:
    params = {**soc.default_params(fast=True), "num_train_images": 4, "num_val_images": 2, "num_test_images": 2}
    return vqa.load_data(arrays=soc.generate(params, seed=0))


@pytest.mark.parametrize("method, keys", [
    ("cnn_mlp", set()),
    ("attention", {"attention"}),
    ("relational", {"hop1_weights", "hop2_weights", "slot_masks", "slot_positions"}),
])
def test_vqa_model_returns_what_it_looked_at(vqa_data, method, keys):
    torch.manual_seed(0)
    model = vqa.build_model(method, len(vqa_data.vocab)).eval()
    batch = next(iter(vqa_data.loader("train", batch_size=2)))
    inputs = {"image": batch["image"], "question": batch["question"]}
    plain, explained = model(inputs), model(inputs, return_attention=True)
    assert set(explained) - set(plain) == keys
    for key, value in plain.items():
        torch.testing.assert_close(explained[key], value)
    if method == "attention":
        assert explained["attention"].shape == (2, 20, 100)
        torch.testing.assert_close(explained["attention"].sum(-1), torch.ones(2, 20))
    if method == "relational":
        hop1, hop2 = explained["hop1_weights"], explained["hop2_weights"]
        assert hop1.shape == (2, 20, 6) and hop2.shape == (2, 20, 2, 6)
        torch.testing.assert_close(hop1, plain["named_object"].softmax(-1))  # hop 1's weights are its scores' softmax
        assert explained["slot_masks"].shape == (2, 7, 75 * 75)
        torch.testing.assert_close(explained["slot_masks"].sum(1), torch.ones(2, 75 * 75))
        torch.testing.assert_close(explained["slot_positions"], plain["positions"])


def video_tensors() -> avvf.VideoAudioTensors:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 12
    arrays = {
        "video": rng.integers(0, 256, size=(n, 16, 32, 32), dtype=np.uint8),
        "audio": rng.integers(-3000, 3000, size=(n, 16000)).astype(np.int16),
        "split": np.repeat(np.arange(3, dtype=np.int8), 4),
        "digit": rng.integers(0, 10, n), "motion": rng.integers(0, 8, n), "voice": rng.integers(0, 6, n),
        "degraded": rng.integers(0, 3, n), "onset": rng.uniform(0, 1, n).astype(np.float32),
        "position": rng.uniform(4, 28, size=(n, 16, 2)).astype(np.float32),
    }
    return avvf.load_tensors(arrays=arrays)


def test_temporal_model_locates_takes_centres_and_returns_attention():
    tensors = video_tensors()
    torch.manual_seed(0)
    model = avvf.build_model("attention", dim=8).eval()
    clips = tensors.splits["train"]
    inputs = {m: clips[m] for m in model.modalities}
    plain = model(inputs)
    centres, spread = model.locate(clips["video"])
    torch.testing.assert_close(centres, plain["position"])
    assert spread.shape == (4, 16) and (spread > 0).all()
    explained = model(inputs, return_attention=True)
    assert explained["video_attention"].shape == (4, 2, 16) and explained["audio_attention"].shape == (4, 2, 64)
    total = explained["video_attention"].sum(-1) + explained["audio_attention"].sum(-1)
    torch.testing.assert_close(total, torch.ones(4, 2))  # one distribution over both modalities' steps
    torch.testing.assert_close(explained["digit"], plain["digit"])
    oracle = model(inputs, centres=clips["position"])
    torch.testing.assert_close(oracle["position"], clips["position"])
    assert not torch.allclose(oracle["motion"], plain["motion"])
    with pytest.raises(TypeError, match="LateTemporalFusion has no weights"):
        avvf.build_model("late", dim=8)(inputs, return_attention=True)
