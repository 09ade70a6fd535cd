"""MultimodalModel: every fusion method end to end, gradients, input handling, determinism."""
import pytest
import torch
from torch import nn

from course_lib.config import seed_everything
from course_lib.models import (
    FUSION_METHODS,
    AudioEncoder,
    ImageEncoder,
    MLPEncoder,
    MultimodalModel,
    count_parameters,
    make_fusion,
    make_head,
    unimodal_model,
)

NUM_CLASSES = 3
BATCH = 4
N_MELS = 16


def make_encoders() -> dict[str, nn.Module]:
    return {
        "image": ImageEncoder(out_dim=8, channels=(4, 8)),
        "audio": AudioEncoder(n_mels=N_MELS, out_dim=6, channels=(4, 8)),
        "text": MLPEncoder(in_dim=10, out_dim=5, hidden=(12,), modality="text"),
    }


def make_model(name: str) -> MultimodalModel:
    """Image + audio + text model with fusion method ``name``."""
    encoders = make_encoders()
    dims = {m: encoder.out_dim for m, encoder in encoders.items()}
    if name == "late":
        fusion = make_fusion("late", dims, num_classes=NUM_CLASSES)
        return MultimodalModel(encoders, fusion, nn.Identity())
    kwargs = {
        "concat": {},
        "gated": {"out_dim": 8, "hidden": 8},
        "tensor": {"out_dim": 8},
        "low_rank": {"out_dim": 8},
    }
    fusion = make_fusion(name, dims, **kwargs[name])
    return MultimodalModel(encoders, fusion, make_head(fusion.out_dim, NUM_CLASSES, hidden=8))


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(BATCH, 1, 28, 28, generator=generator),
        "audio": torch.randn(BATCH, N_MELS, 20, generator=generator),
        "text": torch.randn(BATCH, 10, generator=generator),
        "label": torch.randint(0, NUM_CLASSES, (BATCH,), generator=generator),
    }


@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_gradients_reach_every_encoder(name):
    torch.manual_seed(0)
    model = make_model(name)
    batch = make_batch()
    logits = model(batch)
    assert logits.shape == (BATCH, NUM_CLASSES)
    nn.functional.cross_entropy(logits, batch["label"]).backward()
    for modality, encoder in model.encoders.items():
        for param_name, param in encoder.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, f"{modality}.{param_name}"
    for param_name, param in model.fusion.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"fusion.{param_name}"


def test_extra_keys_are_ignored():
    model = make_model("concat").eval()
    batch = make_batch()
    inputs = {m: batch[m] for m in ("image", "audio", "text")}
    with_extras = {**batch, "mask": torch.ones(BATCH, 20, dtype=torch.bool)}
    torch.testing.assert_close(model(with_extras), model(inputs))


def test_missing_modality_is_named():
    model = make_model("gated")
    batch = make_batch()
    del batch["audio"]
    with pytest.raises(ValueError, match=r"missing modality 'audio'.*\['image', 'audio', 'text'\]"):
        model(batch)


def test_misshaped_input_names_the_modality():
    model = make_model("tensor")
    batch = make_batch()
    batch["text"] = torch.randn(BATCH, 11)
    with pytest.raises(ValueError, match=r"text must have shape \(B, 10\), got \(4, 11\)"):
        model(batch)


def test_encode_returns_each_encoders_embedding():
    model = make_model("low_rank").eval()
    batch = make_batch()
    embeddings = model.encode(batch)
    assert {m: tuple(z.shape) for m, z in embeddings.items()} == {
        "image": (BATCH, 8),
        "audio": (BATCH, 6),
        "text": (BATCH, 5),
    }
    for modality, z in embeddings.items():
        torch.testing.assert_close(z, model.encoders[modality](batch[modality]))
    torch.testing.assert_close(model(batch), model.head(model.fusion(embeddings)))


def test_fusion_modalities_must_match_encoders():
    encoders = make_encoders()
    fusion = make_fusion("concat", {"image": 8, "audio": 6})
    pattern = r"expects modalities \['image', 'audio'\].*\['image', 'audio', 'text'\]"
    with pytest.raises(ValueError, match=pattern):
        MultimodalModel(encoders, fusion, nn.Identity())


def test_fusion_dims_must_match_encoder_sizes():
    encoders = make_encoders()
    fusion = make_fusion("concat", {"image": 8, "audio": 7, "text": 5})
    with pytest.raises(ValueError, match=r"'audio' encoder outputs \(B, 6\).*dims\['audio'\] = 7"):
        MultimodalModel(encoders, fusion, nn.Identity())


def test_forward_is_deterministic_under_a_seed():
    outputs = []
    for seed in (0, 0, 1):
        seed_everything(seed)
        model = make_model("gated")
        outputs.append(model(make_batch()))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert not torch.allclose(outputs[0], outputs[2])


def test_unimodal_model_uses_the_same_code_path():
    torch.manual_seed(0)
    encoder = ImageEncoder(out_dim=8, channels=(4, 8))
    model = unimodal_model("image", encoder, NUM_CLASSES, hidden=16)
    assert isinstance(model, MultimodalModel)
    assert model(make_batch()).shape == (BATCH, NUM_CLASSES)
    head_params = 8 * 16 + 16 + 16 * NUM_CLASSES + NUM_CLASSES
    assert count_parameters(model) == count_parameters(encoder) + head_params


def test_make_head():
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    linear = make_head(8, NUM_CLASSES)
    torch.testing.assert_close(linear(x), x @ linear.weight.T + linear.bias)
    head = make_head(8, NUM_CLASSES, hidden=16, dropout=0.5).eval()
    first, last = head[0], head[-1]
    expected = last(torch.relu(first(x)))  # Linear -> ReLU -> (dropout: identity in eval mode) -> Linear
    torch.testing.assert_close(head(x), expected)
    assert any(isinstance(layer, nn.Dropout) for layer in head)
    assert not torch.allclose(head.train()(x), expected)  # dropout acts in training


def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert count_parameters(model) == (3 * 4 + 4) + (4 * 2 + 2)
    model[0].requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 4 * 2 + 2
    shared = nn.Linear(3, 3)
    assert count_parameters(nn.Sequential(shared, shared)) == 12
