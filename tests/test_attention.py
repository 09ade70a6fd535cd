"""Cross-modal attention: weights over the regions, masks, biases, shapes, gradients and errors."""
import pytest
import torch

from course_lib.models.attention import CrossModalAttention

B, R, DQ, DR, H = 4, 7, 6, 5, 8


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, DQ, generator=generator), torch.randn(B, R, DR, generator=generator)


@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_shapes_and_weights_sum_to_one_over_regions(num_heads):
    torch.manual_seed(0)
    attend = CrossModalAttention(DQ, DR, H, num_heads)
    attended, weights = attend(*inputs())
    assert attended.shape == (B, H) and weights.shape == (B, R)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(B))


def test_single_head_matches_a_direct_computation():
    torch.manual_seed(0)
    attend = CrossModalAttention(DQ, DR, H)
    query, regions = inputs()
    q, k, v = attend.to_query(query), attend.to_key(regions), attend.to_value(regions)
    expected_weights = torch.softmax((k @ q[:, :, None]).squeeze(-1) / H**0.5, dim=1)
    attended, weights = attend(query, regions)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(attended, (expected_weights[..., None] * v).sum(dim=1))


def test_masked_regions_get_zero_weight_and_do_not_change_the_output():
    torch.manual_seed(0)
    attend = CrossModalAttention(DQ, DR, H, num_heads=2)
    query, regions = inputs()
    mask = torch.ones(B, R, dtype=torch.bool)
    mask[:, 4:] = False
    attended, weights = attend(query, regions, mask=mask)
    assert (weights[:, 4:] == 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(B))
    changed = regions.clone()
    changed[:, 4:] = 100.0  # whatever sits in the masked regions is ignored
    attended_changed, _ = attend(query, changed, mask=mask)
    torch.testing.assert_close(attended_changed, attended)
    attended_short, _ = attend(query, regions[:, :4])
    torch.testing.assert_close(attended_short, attended)


def test_bias_shifts_the_weights():
    torch.manual_seed(0)
    attend = CrossModalAttention(DQ, DR, H)
    query, regions = inputs()
    bias = torch.zeros(B, R)
    bias[:, 2] = 50.0  # a large bias on one region takes all the weight
    _, weights = attend(query, regions, bias=bias)
    torch.testing.assert_close(weights[:, 2], torch.ones(B), atol=1e-6, rtol=0)


def test_gradients_reach_query_regions_and_parameters():
    torch.manual_seed(0)
    attend = CrossModalAttention(DQ, DR, H, num_heads=2)
    query, regions = inputs()
    query.requires_grad_(True)
    regions.requires_grad_(True)
    attended, _ = attend(query, regions)
    attended.square().sum().backward()
    assert query.grad.abs().sum() > 0 and regions.grad.abs().sum() > 0
    for name, parameter in attend.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_shapes_and_arguments_are_clear_errors():
    attend = CrossModalAttention(DQ, DR, H)
    query, regions = inputs()
    with pytest.raises(ValueError, match=r"query must have shape \(B, 6\), got \(4, 5\)"):
        attend(query[:, :5], regions)
    with pytest.raises(ValueError, match=r"regions must have shape \(B, R, 5\), got \(4, 5\)"):
        attend(query, regions[:, 0])
    with pytest.raises(ValueError, match="batch size"):
        attend(query[:2], regions)
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 7\)"):
        attend(query, regions, mask=torch.ones(B, R - 1, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        attend(query, regions, mask=torch.ones(B, R))
    with pytest.raises(ValueError, match="at least one True"):
        attend(query, regions, mask=torch.zeros(B, R, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"bias must have shape \(4, 7\)"):
        attend(query, regions, bias=torch.zeros(B, R + 1))
    with pytest.raises(ValueError, match="divisible"):
        CrossModalAttention(DQ, DR, hidden_dim=10, num_heads=4)
    with pytest.raises(ValueError, match="query_dim must be a positive int"):
        CrossModalAttention(0, DR)
