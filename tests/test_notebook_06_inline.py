"""The pieces notebook 06 builds inline agree with ``course_lib``.

The cells tagged ``inline`` define one head of scaled dot-product attention (checked against
``course_lib.models.CrossModalAttention``) and FiLM (checked against ``course_lib.models.film.film``).
"""
from __future__ import annotations

import torch

from course_lib.models import CrossModalAttention
from course_lib.models.film import film

from notebook_cells import inline_fixture

inline = inline_fixture("06_image_text_fusion.ipynb")


def test_attend_matches_cross_modal_attention_and_weights_sum_to_one(inline):
    torch.manual_seed(0)
    attention = CrossModalAttention(query_dim=8, region_dim=5, hidden_dim=6)
    query, regions = torch.randn(3, 8), torch.randn(3, 7, 5)
    attended, weights = inline["attend"](query, regions, attention.to_query, attention.to_key, attention.to_value)
    expected, expected_weights = attention(query, regions)
    torch.testing.assert_close(attended, expected)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))


def test_attend_follows_the_matching_region(inline):
    identity = torch.nn.Identity()
    query = torch.tensor([[0.0, 10.0]])
    regions = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    attended, weights = inline["attend"](query, regions, identity, identity, identity)
    assert weights.argmax().item() == 1 and weights[0, 1] > 0.99
    torch.testing.assert_close(attended, regions[:, 1], atol=0.01, rtol=0)


def test_film_matches_the_library_and_identity_parameters_change_nothing(inline):
    torch.manual_seed(0)
    x, gamma, beta = torch.randn(2, 4, 3, 3), torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(inline["film"](x, gamma, beta), film(x, gamma, beta))
    torch.testing.assert_close(inline["film"](x, torch.ones(2, 4), torch.zeros(2, 4)), x)
    switched_off = inline["film"](x, torch.zeros(2, 4), beta)
    torch.testing.assert_close(switched_off, beta[:, :, None, None].expand_as(x))
