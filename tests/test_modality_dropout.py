"""ModalityDropout and ModalityDropoutModel: training vs evaluation, never all dropped, seeds, missing modalities."""
import pytest
import torch
from torch import nn

from course_lib.config import seed_everything
from course_lib.models import ImageEncoder, MLPEncoder, MultimodalModel, make_fusion, make_head
from course_lib.models.modality_dropout import ModalityDropout, ModalityDropoutModel, drop_modalities

MODALITIES = ("image", "audio", "text")
BATCH = 4000


def ones(batch: int = BATCH) -> dict[str, torch.Tensor]:
    return {"image": torch.ones(batch, 3), "audio": torch.ones(batch, 2), "text": torch.ones(batch, 4)}


def kept(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, M) bool: which modalities of each sample were kept (nonzero)."""
    return torch.stack([out[m].abs().sum(dim=1) > 0 for m in MODALITIES], dim=1)


def test_eval_mode_passes_everything_through():
    dropout = ModalityDropout(MODALITIES, p=0.9).eval()
    features = {m: torch.randn(5, 3) for m in MODALITIES}
    out = dropout(features)
    for m in MODALITIES:
        assert torch.equal(out[m], features[m])


def test_training_drops_at_rate_p_and_never_all():
    seed_everything(0)
    dropout = ModalityDropout(MODALITIES, p=0.5).train()
    keep = kept(dropout(ones()))
    assert keep.any(dim=1).all(), "a sample lost every modality"
    # each modality is dropped by its own draw (1/2), except that a sample whose three draws all
    # drop (1/8) gets one back (1/3 each): 1/2 - 1/24 = 0.458
    drop_rate = 1 - keep.float().mean(dim=0)
    torch.testing.assert_close(drop_rate, torch.full((3,), 0.5 - 1 / 24), atol=0.03, rtol=0)


def test_two_modalities_never_both_dropped_even_at_high_p():
    seed_everything(0)
    dropout = ModalityDropout(("image", "audio"), p=0.95).train()
    out = dropout({"image": torch.ones(1000, 3), "audio": torch.ones(1000, 2)})
    keep = torch.stack([out["image"][:, 0] != 0, out["audio"][:, 0] != 0], dim=1)
    assert keep.any(dim=1).all()
    assert not keep.all(dim=1).all(), "at p=0.95 some samples should lose a modality"


def test_rescale_multiplies_kept_embeddings_by_m_over_kept():
    seed_everything(1)
    out = ModalityDropout(MODALITIES, p=0.5).train()(ones(200))
    keep = kept(out)
    expected_scale = len(MODALITIES) / keep.sum(dim=1)  # (B,)
    for i, m in enumerate(MODALITIES):
        rows = keep[:, i]
        torch.testing.assert_close(out[m][rows], expected_scale[rows, None].expand(-1, out[m].shape[1]))
        assert torch.all(out[m][~rows] == 0)


def test_without_rescale_kept_embeddings_are_unchanged():
    seed_everything(1)
    out = ModalityDropout(MODALITIES, p=0.5, rescale=False).train()(ones(200))
    values = torch.cat([out[m].flatten() for m in MODALITIES]).unique()
    assert set(values.tolist()) == {0.0, 1.0}


def test_same_seed_same_mask_other_seed_other_mask():
    dropout = ModalityDropout(MODALITIES, p=0.4).train()
    seed_everything(3)
    first = kept(dropout(ones(64)))
    seed_everything(3)
    again = kept(dropout(ones(64)))
    seed_everything(4)
    other = kept(dropout(ones(64)))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_absent_modality_zeroed_and_rest_rescaled_in_eval():
    dropout = ModalityDropout(MODALITIES, p=0.3).eval()
    out = dropout(ones(5), absent=["audio"])
    assert torch.all(out["audio"] == 0)
    torch.testing.assert_close(out["image"], torch.full((5, 3), 1.5))
    torch.testing.assert_close(out["text"], torch.full((5, 4), 1.5))


def test_absent_modality_never_kept_in_training():
    seed_everything(0)
    out = ModalityDropout(MODALITIES, p=0.6).train()(ones(500), absent=["image"])
    keep = kept(out)
    assert not keep[:, 0].any()
    assert keep[:, 1:].any(dim=1).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"modalities": ("image",), "p": 0.3}, "at least two modalities"),
    ({"modalities": MODALITIES, "p": 1.0}, "p must be in"),
    ({"modalities": MODALITIES, "p": -0.1}, "p must be in"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModalityDropout(**kwargs)


def test_bad_absent_names():
    dropout = ModalityDropout(("image", "audio"))
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        dropout({"image": torch.ones(2, 3), "audio": torch.ones(2, 3)}, absent=["video"])
    with pytest.raises(ValueError, match="all modalities"):
        dropout({"image": torch.ones(2, 3), "audio": torch.ones(2, 3)}, absent=["image", "audio"])


def make_model(p: float = 0.3) -> ModalityDropoutModel:
    encoders = {"image": ImageEncoder(out_dim=6, channels=(4,)), "text": MLPEncoder(in_dim=10, out_dim=5, hidden=())}
    fusion = make_fusion("concat", {"image": 6, "text": 5}, out_dim=8)
    return ModalityDropoutModel(MultimodalModel(encoders, fusion, make_head(8, 3)), p=p)


def make_inputs(batch: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.randn(batch, 1, 8, 8, generator=generator), "text": torch.randn(batch, 10, generator=generator)}


def test_model_with_a_missing_modality_equals_zero_embedding_rescaled():
    seed_everything(0)
    model = make_model().eval()
    inputs = make_inputs()
    inner = model.model
    with torch.no_grad():
        expected = inner.head(inner.fusion({"image": 2 * inner.encoders["image"](inputs["image"]),
                                            "text": torch.zeros(4, 5)}))
        torch.testing.assert_close(model({"image": inputs["image"]}), expected)
        torch.testing.assert_close(model({"image": inputs["image"], "text": None}), expected)
        torch.testing.assert_close(model(inputs), inner(inputs))


def test_plain_model_still_rejects_a_missing_modality():
    model = make_model().model.eval()
    with pytest.raises(ValueError, match="missing modality 'text'"):
        model({"image": make_inputs()["image"]})


def test_model_needs_at_least_one_modality():
    with pytest.raises(ValueError, match="at least one of"):
        make_model().eval()({"label": torch.zeros(4)})


def test_model_training_is_random_eval_is_not_and_gradients_flow():
    model = make_model(p=0.5)
    inputs = make_inputs(32)
    model.train()
    seed_everything(0)
    first = model(inputs)
    seed_everything(1)
    assert not torch.allclose(first, model(inputs))
    first.sum().backward()
    for m in ("image", "text"):
        grads = [p.grad for p in model.model.encoders[m].parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), f"no gradient reached the {m} encoder"
    model.eval()
    torch.testing.assert_close(model(inputs), model(inputs))


def test_p_zero_trains_like_the_wrapped_model():
    model = make_model(p=0.0).train()
    inputs = make_inputs()
    seed_everything(0)
    torch.testing.assert_close(model(inputs), model.model(inputs))


def test_wraps_only_multimodal_models():
    with pytest.raises(TypeError, match="MultimodalModel"):
        ModalityDropoutModel(nn.Linear(3, 2))


def test_drop_modalities_zeroes_inputs_and_reports_what_was_kept():
    torch.manual_seed(0)
    inputs = {"video": torch.ones(300, 2, 3), "audio": torch.ones(300, 4)}
    out, kept = drop_modalities(inputs, 0.4)
    for m, x in out.items():
        assert x.shape == inputs[m].shape and kept[m].dtype == torch.bool
        assert torch.equal(x.flatten(1).all(dim=1), kept[m]) and not x[~kept[m]].any()
    assert (kept["video"] | kept["audio"]).all()
    assert 0.3 < (~(kept["video"] & kept["audio"])).float().mean() < 0.5  # about 40 % of the clips lose one
    out, kept = drop_modalities(inputs, 0.0)
    assert all(k.all() for k in kept.values()) and torch.equal(out["video"], inputs["video"])
    with pytest.raises(ValueError, match="probability must be in"):
        drop_modalities(inputs, 1.5)
