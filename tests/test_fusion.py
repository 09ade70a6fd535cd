"""Fusion modules: shapes, input checks, parameter counts and the TFN/LMF equivalence."""
import math

import pytest
import torch

from course_lib.models import (
    FUSION_METHODS,
    ConcatFusion,
    GatedFusion,
    LateFusion,
    LowRankFusion,
    TensorFusion,
    count_parameters,
    make_fusion,
)
from course_lib.models.tensor_fusion import outer_product

OUT_DIM = 7
NUM_CLASSES = 3
BATCH = 4
ONE = {"image": 6}
TWO = {"image": 6, "audio": 5}
THREE = {"image": 6, "audio": 5, "text": 4}


def method_kwargs(name: str) -> dict:
    """The hyperparameters each method needs in these tests."""
    return {
        "concat": {"out_dim": OUT_DIM},
        "late": {"num_classes": NUM_CLASSES},
        "gated": {"out_dim": OUT_DIM, "hidden": 8},
        "tensor": {"out_dim": OUT_DIM},
        "low_rank": {"out_dim": OUT_DIM, "rank": 3},
    }[name]


def random_features(
    dims: dict[str, int], batch: int = BATCH, seed: int = 0
) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, d, generator=generator) for m, d in dims.items()}


@pytest.mark.parametrize("dims", [ONE, TWO, THREE], ids=["one", "two", "three"])
@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_output_shape(name, dims):
    fusion = make_fusion(name, dims, **method_kwargs(name))
    expected_dim = NUM_CLASSES if name == "late" else OUT_DIM
    assert fusion.out_dim == expected_dim
    assert fusion(random_features(dims)).shape == (BATCH, expected_dim)


@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_dict_order_does_not_matter(name):
    fusion = make_fusion(name, THREE, **method_kwargs(name))
    features = random_features(THREE)
    reversed_features = dict(reversed(list(features.items())))
    torch.testing.assert_close(fusion(reversed_features), fusion(features))


@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_missing_modality(name):
    fusion = make_fusion(name, TWO, **method_kwargs(name))
    features = random_features(TWO)
    del features["audio"]
    with pytest.raises(ValueError, match=r"missing modality 'audio'.*\['image', 'audio'\]"):
        fusion(features)


@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_unexpected_modality(name):
    fusion = make_fusion(name, TWO, **method_kwargs(name))
    with pytest.raises(ValueError, match=r"unexpected modality 'text'"):
        fusion(random_features(THREE))


@pytest.mark.parametrize(
    ("bad_audio_shape", "actual"),
    [((BATCH, 4), r"\(4, 4\)"), ((BATCH, 5, 1), r"\(4, 5, 1\)"), ((BATCH,), r"\(4,\)")],
)
@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_misshaped_modality(name, bad_audio_shape, actual):
    fusion = make_fusion(name, TWO, **method_kwargs(name))
    features = random_features(TWO)
    features["audio"] = torch.randn(bad_audio_shape)
    class_name = type(fusion).__name__
    pattern = rf"{class_name}: features\['audio'\] must have shape \(B, 5\), got {actual}"
    with pytest.raises(ValueError, match=pattern):
        fusion(features)


@pytest.mark.parametrize("name", list(FUSION_METHODS))
def test_batch_sizes_must_agree(name):
    fusion = make_fusion(name, TWO, **method_kwargs(name))
    features = {"image": torch.randn(4, 6), "audio": torch.randn(3, 5)}
    with pytest.raises(ValueError, match=r"features\['audio'\] has batch size 3.*'image'\] has 4"):
        fusion(features)


@pytest.mark.parametrize("dims", [{}, {"image": 0}, {"image": 2.5}])
def test_invalid_dims(dims):
    with pytest.raises(ValueError, match="ConcatFusion: dims"):
        ConcatFusion(dims)


def test_make_fusion_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="'attention'.*concat, late, gated, tensor, low_rank"):
        make_fusion("attention", TWO)


def test_make_fusion_builds_the_named_class():
    expected = {
        "concat": ConcatFusion,
        "late": LateFusion,
        "gated": GatedFusion,
        "tensor": TensorFusion,
        "low_rank": LowRankFusion,
    }
    for name, cls in expected.items():
        assert type(make_fusion(name, TWO, **method_kwargs(name))) is cls


def test_concat_without_projection_is_concatenation():
    features = random_features(TWO)
    fusion = ConcatFusion(TWO)
    assert fusion.out_dim == 11
    expected = torch.cat([features["image"], features["audio"]], dim=1)
    torch.testing.assert_close(fusion(features), expected)


def test_late_fusion_averages_classifier_logits():
    features = random_features(TWO)
    fusion = LateFusion(TWO, NUM_CLASSES)
    per_modality = fusion.modality_logits(features)
    expected = (per_modality["image"] + per_modality["audio"]) / 2
    torch.testing.assert_close(fusion(features), expected)


def test_late_fusion_fixed_weights():
    features = random_features(TWO)
    fusion = LateFusion(TWO, NUM_CLASSES, weights={"audio": 1.0, "image": 3.0})
    per_modality = fusion.modality_logits(features)
    expected = 0.75 * per_modality["image"] + 0.25 * per_modality["audio"]
    torch.testing.assert_close(fusion(features), expected)
    assert fusion.modality_weights() == pytest.approx({"image": 0.75, "audio": 0.25})
    assert not any(p is fusion.log_weights for p in fusion.parameters())


def test_late_fusion_learned_weights_get_gradients():
    fusion = LateFusion(TWO, NUM_CLASSES, learn_weights=True)
    assert any(p is fusion.log_weights for p in fusion.parameters())
    targets = torch.randint(0, NUM_CLASSES, (BATCH,), generator=torch.Generator().manual_seed(0))
    torch.nn.functional.cross_entropy(fusion(random_features(TWO)), targets).backward()
    assert fusion.log_weights.grad.abs().sum() > 0


@pytest.mark.parametrize("weights", [{"image": 1.0}, {"image": 1.0, "audio": 0.0}])
def test_late_fusion_rejects_bad_weights(weights):
    with pytest.raises(ValueError, match="LateFusion: weights"):
        LateFusion(TWO, NUM_CLASSES, weights=weights)


def test_gated_weights_sum_to_one_and_respond_to_inputs():
    fusion = GatedFusion(THREE, OUT_DIM, hidden=8)
    fused, first = fusion(random_features(THREE, seed=0), return_weights=True)
    torch.testing.assert_close(fused, fusion(random_features(THREE, seed=0)))  # the same output either way
    assert first.shape == (BATCH, 3) and first.requires_grad  # a return value: gradients flow through it
    assert torch.all(first > 0)
    torch.testing.assert_close(first.sum(dim=1), torch.ones(BATCH))
    assert not torch.allclose(first[0], first[1])  # per sample, not one global weighting
    _, second = fusion(random_features(THREE, seed=1), return_weights=True)
    assert not torch.allclose(second, first)
    assert not any(name.startswith("last") for name in vars(fusion))  # no state left behind by a forward pass


def test_gated_output_is_weighted_sum_of_projections():
    fusion = GatedFusion(TWO, OUT_DIM, hidden=8)
    features = random_features(TWO)
    output, weights = fusion(features, return_weights=True)
    expected = (
        weights[:, :1] * fusion.projections["image"](features["image"])
        + weights[:, 1:] * fusion.projections["audio"](features["audio"])
    )
    torch.testing.assert_close(output, expected)


def test_outer_product_matches_einsum():
    features = random_features(THREE)
    a, b, c = (torch.cat([z, torch.ones(BATCH, 1)], 1) for z in features.values())
    expected = torch.einsum("bi,bj,bk->bijk", a, b, c).flatten(1)
    torch.testing.assert_close(outer_product(list(features.values())), expected)
    assert expected.shape == (BATCH, 7 * 6 * 5)


@pytest.mark.parametrize("dims", [TWO, THREE], ids=["two", "three"])
def test_tensor_fusion_parameter_count(dims):
    fusion = TensorFusion(dims, OUT_DIM)
    expected = math.prod(d + 1 for d in dims.values()) * OUT_DIM + OUT_DIM
    assert count_parameters(fusion) == expected


@pytest.mark.parametrize("rank", [1, 4])
@pytest.mark.parametrize("dims", [TWO, THREE], ids=["two", "three"])
def test_low_rank_fusion_parameter_count(dims, rank):
    fusion = LowRankFusion(dims, OUT_DIM, rank=rank)
    expected = rank * sum(d + 1 for d in dims.values()) * OUT_DIM + rank + OUT_DIM
    assert count_parameters(fusion) == expected


def cp_reconstruction(lmf: LowRankFusion) -> torch.Tensor:
    """W[o, i, j(, k)] = sum_r lambda_r W_1[r, i, o] W_2[r, j, o] (W_3[r, k, o])."""
    factors = [lmf.factors[m] for m in lmf.modalities]
    letters = "ijk"[: len(factors)]
    equation = "r," + ",".join(f"r{x}o" for x in letters) + "->o" + letters
    return torch.einsum(equation, lmf.rank_weights, *factors)


@pytest.mark.parametrize("dims", [TWO, THREE], ids=["two", "three"])
def test_low_rank_fusion_equals_tensor_fusion_with_cp_weight(dims):
    torch.manual_seed(0)
    lmf = LowRankFusion(dims, OUT_DIM, rank=3).double()
    with torch.no_grad():
        lmf.bias.normal_()
    tfn = TensorFusion(dims, OUT_DIM).double()
    with torch.no_grad():
        tfn.linear.weight.copy_(cp_reconstruction(lmf).reshape(OUT_DIM, -1))
        tfn.linear.bias.copy_(lmf.bias)
    features = {m: z.double() for m, z in random_features(dims).items()}
    expected = tfn(features)
    torch.testing.assert_close(lmf(features), expected)
    torch.testing.assert_close(lmf.to_tensor_fusion()(features), expected)


def test_low_rank_fusion_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank must be a positive int, got 0"):
        LowRankFusion(TWO, OUT_DIM, rank=0)
