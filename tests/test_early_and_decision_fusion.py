"""Early fusion of the inputs (EarlyFusionModel) and late fusion of separately trained models (DecisionFusion)."""
import pytest
import torch
from torch import nn

from course_lib.models import ImageEncoder, count_parameters, make_head, unimodal_model
from course_lib.models.decision_fusion import (
    DecisionFusion,
    combine_log_probabilities,
    fit_decision_weights,
)
from course_lib.models.early_fusion import EarlyFusionModel

BATCH, CLASSES = 5, 4


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(BATCH, 1, 28, 28, generator=generator),
            "audio": torch.randn(BATCH, 32, 51, generator=generator), "label": torch.arange(BATCH) % CLASSES}


def early_model() -> EarlyFusionModel:
    torch.manual_seed(0)
    return EarlyFusionModel({"image": 1, "audio": 1}, ImageEncoder(in_channels=2, out_dim=8, channels=(4, 8)),
                            make_head(8, CLASSES, hidden=6), size=(28, 28))


def test_early_fusion_stacks_the_inputs_on_one_grid():
    model = early_model()
    inputs = batch()
    stacked = model.stack(inputs)
    assert stacked.shape == (BATCH, 2, 28, 28)
    torch.testing.assert_close(stacked[:, :1], inputs["image"])  # already on the grid: unchanged
    resized = nn.functional.interpolate(inputs["audio"][:, None], size=(28, 28), mode="bilinear",
                                        align_corners=False, antialias=True)
    torch.testing.assert_close(stacked[:, 1:], resized)
    assert model(inputs).shape == (BATCH, CLASSES)


def test_early_fusion_gradients_reach_the_one_encoder_from_both_inputs():
    model = early_model()
    inputs = {k: v.requires_grad_(k != "label") if k != "label" else v for k, v in batch().items()}
    model(inputs).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    for modality in ("image", "audio"):
        assert inputs[modality].grad.abs().sum() > 0, f"no gradient reaches the {modality} input"
    first_conv = model.encoder.filters()
    assert first_conv.shape[1] == 2, "the first convolution must read both modalities"


def test_early_fusion_errors_name_the_modality():
    model = early_model()
    with pytest.raises(ValueError, match="missing modality 'audio'"):
        model({"image": batch()["image"]})
    with pytest.raises(ValueError, match=r"inputs\['image'\] must have shape \(B, 1, H, W\)"):
        model({"image": torch.rand(BATCH, 3, 28, 28), "audio": batch()["audio"]})
    with pytest.raises(ValueError, match="batch size"):
        model({"image": batch()["image"], "audio": batch()["audio"][:2]})
    with pytest.raises(ValueError, match="encoder takes 1"):
        EarlyFusionModel({"image": 1, "audio": 1}, ImageEncoder(in_channels=1, out_dim=8), nn.Identity())
    with pytest.raises(ValueError, match="size must be"):
        EarlyFusionModel({"image": 1}, nn.Identity(), nn.Identity(), size=(28,))


class FlatAudioEncoder(nn.Module):
    """A tiny audio encoder for these tests: (B, 32, 51) -> (B, 8)."""

    out_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(32 * 51, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def unimodal_pair() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    image = unimodal_model("image", ImageEncoder(out_dim=8, channels=(4, 8)), CLASSES)
    audio = unimodal_model("audio", FlatAudioEncoder(), CLASSES)
    return {"image": image, "audio": audio}


def test_decision_fusion_equals_averaged_probabilities_by_hand():
    models = unimodal_pair()
    fusion = DecisionFusion(models).eval()
    inputs = batch()
    with torch.no_grad():
        by_hand = (torch.softmax(models["image"](inputs), 1) + torch.softmax(models["audio"](inputs), 1)) / 2
        combined = fusion(inputs)
    torch.testing.assert_close(combined.exp(), by_hand)
    torch.testing.assert_close(combined.exp().sum(1), torch.ones(BATCH))
    assert fusion.modality_weights() == {"image": 0.5, "audio": 0.5}
    assert count_parameters(fusion) == sum(count_parameters(m) for m in models.values())


def test_weighted_mean_and_product_rules_by_hand():
    models = unimodal_pair()
    inputs = batch(1)
    with torch.no_grad():
        p = {m: torch.softmax(models[m](inputs), 1) for m in models}
        mean = DecisionFusion(models, weights={"image": 3, "audio": 1})(inputs).exp()
        product = DecisionFusion(models, weights={"image": 3, "audio": 1}, rule="product")(inputs).exp()
    torch.testing.assert_close(mean, 0.75 * p["image"] + 0.25 * p["audio"])
    geometric = p["image"] ** 0.75 * p["audio"] ** 0.25
    torch.testing.assert_close(product, geometric / geometric.sum(1, keepdim=True))


def test_decision_fusion_gradients_flow_to_both_models():
    models = unimodal_pair()
    fusion = DecisionFusion(models)
    nn.functional.nll_loss(fusion(batch()), batch()["label"]).backward()
    for modality, model in models.items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), modality


def test_decision_fusion_rejects_bad_input():
    models = unimodal_pair()
    with pytest.raises(ValueError, match="rule must be one of"):
        DecisionFusion(models, rule="max")
    with pytest.raises(ValueError, match="exactly the modalities"):
        DecisionFusion(models, weights={"image": 1.0})
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        DecisionFusion(models, weights={"image": -1.0, "audio": 1.0})
    with pytest.raises(ValueError, match="at least one weight must be positive"):
        DecisionFusion(models, weights={"image": 0.0, "audio": 0.0})
    with pytest.raises(ValueError, match="non-empty dict"):
        DecisionFusion({})
    with pytest.raises(ValueError, match="missing modality 'audio'"):
        DecisionFusion(models)({"image": batch()["image"]})
    with pytest.raises(ValueError, match=r"log_probs\['audio'\] must have shape \(5, 4\)"):
        combine_log_probabilities({"image": torch.zeros(5, 4), "audio": torch.zeros(5, 3)}, torch.ones(2) / 2)
    with pytest.raises(ValueError, match="weights must have shape"):
        combine_log_probabilities({"image": torch.zeros(5, 4)}, torch.ones(2) / 2)


def test_fit_decision_weights_trusts_the_informative_modality():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, CLASSES, (400,), generator=generator)
    informative = torch.log_softmax(3 * nn.functional.one_hot(labels, CLASSES).float()
                                    + torch.randn(400, CLASSES, generator=generator), 1)
    useless = torch.log_softmax(torch.randn(400, CLASSES, generator=generator), 1)
    weights = fit_decision_weights({"image": informative, "audio": useless}, labels)
    assert set(weights) == {"image", "audio"} and abs(sum(weights.values()) - 1) < 1e-6
    assert weights["image"] > 0.8, weights
    equal = torch.ones(2) / 2
    fitted = torch.tensor([weights["image"], weights["audio"]])
    nll = [nn.functional.nll_loss(combine_log_probabilities({"image": informative, "audio": useless}, w), labels)
           for w in (equal, fitted)]
    assert nll[1] < nll[0], "the fitted weights must lower the loss they minimise"
    with pytest.raises(ValueError, match="labels must have shape"):
        fit_decision_weights({"image": informative}, labels[:3])
