"""Fusion of two sequences: late pooled fusion and attention over time."""
import pytest
import torch

from course_lib.models.temporal_fusion import (
    LateTemporalFusion,
    TemporalAttentionFusion,
    masked_mean,
    time_code,
)

DIMS = {"video": 6, "audio": 5}


def sequences(batch: int = 3, video_steps: int = 4, audio_steps: int = 16, requires_grad: bool = False):
    generator = torch.Generator().manual_seed(0)
    return {"video": torch.randn(batch, video_steps, 6, generator=generator, requires_grad=requires_grad),
            "audio": torch.randn(batch, audio_steps, 5, generator=generator, requires_grad=requires_grad)}


def test_late_fusion_is_the_concatenated_means():
    x = sequences()
    fused = LateTemporalFusion(DIMS)(x)
    assert fused.shape == (3, 11)
    torch.testing.assert_close(fused, torch.cat([x["video"].mean(1), x["audio"].mean(1)], dim=1))


def test_late_fusion_ignores_masked_steps():
    x = sequences()
    mask = torch.ones(3, 16, dtype=torch.bool)
    mask[:, 10:] = False
    fused = LateTemporalFusion(DIMS)(x, masks={"audio": mask})
    torch.testing.assert_close(fused[:, 6:], x["audio"][:, :10].mean(1))
    x["audio"][:, 10:] = 1e6  # padding: must not matter
    torch.testing.assert_close(LateTemporalFusion(DIMS)(x, masks={"audio": mask})[:, 6:], fused[:, 6:])


def test_masked_mean_of_an_empty_sequence_is_zero():
    out = masked_mean(torch.ones(2, 3, 4), torch.tensor([[True, False, False], [False, False, False]]))
    torch.testing.assert_close(out, torch.tensor([[1.0] * 4, [0.0] * 4]))


@pytest.mark.parametrize("num_queries", [1, 3])
def test_attention_shapes_and_weights_sum_to_one(num_queries):
    torch.manual_seed(0)
    fusion = TemporalAttentionFusion(DIMS, dim=8, num_queries=num_queries)
    fused, weights = fusion(sequences(), return_weights=True)
    assert fused.shape == (3, 8 * num_queries) and fusion.out_dim == 8 * num_queries
    shape = (3,) if num_queries == 1 else (3, num_queries)
    assert weights["video"].shape == (*shape, 4) and weights["audio"].shape == (*shape, 16)
    total = weights["video"].sum(-1) + weights["audio"].sum(-1)
    torch.testing.assert_close(total, torch.ones(shape))
    assert (weights["video"] >= 0).all() and (weights["audio"] >= 0).all()
    torch.testing.assert_close(fusion(sequences()), fused)


def test_attention_output_is_the_weighted_sum_of_projected_steps():
    torch.manual_seed(0)
    fusion = TemporalAttentionFusion(DIMS, dim=8)
    x = sequences()
    fused, weights = fusion(x, return_weights=True)
    values, _, _ = fusion.steps(x)
    all_weights = torch.cat([weights["video"], weights["audio"]], dim=1)  # (B, 20)
    torch.testing.assert_close(fused, torch.einsum("bs,bsd->bd", all_weights, values))


def test_attention_gives_masked_steps_zero_weight_and_ignores_them():
    torch.manual_seed(0)
    fusion = TemporalAttentionFusion(DIMS, dim=8)
    x = sequences()
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[:, 2:] = False
    fused, weights = fusion(x, masks={"video": mask}, return_weights=True)
    assert (weights["video"][:, 2:] == 0).all()
    torch.testing.assert_close(weights["video"].sum(-1) + weights["audio"].sum(-1), torch.ones(3))
    x["video"][:, 2:] = 100.0
    torch.testing.assert_close(fusion(x, masks={"video": mask}), fused)


def test_gradients_reach_both_modalities():
    torch.manual_seed(0)
    for fusion in (LateTemporalFusion(DIMS), TemporalAttentionFusion(DIMS, dim=8)):
        x = sequences(requires_grad=True)
        fusion(x).pow(2).sum().backward()
        for modality in DIMS:
            assert x[modality].grad is not None and x[modality].grad.abs().sum() > 0, modality


def test_time_code_aligns_steps_of_different_rates():
    video, audio = time_code(4, 8), time_code(12, 8)
    assert video.shape == (4, 8) and audio.shape == (12, 8) and time_code(4, 7).shape == (4, 7)
    # video step 1 and audio step 4 are both centred 3/8 into the clip
    torch.testing.assert_close(video[1], audio[4])
    torch.testing.assert_close(video[3], audio[10])
    assert (video[1] - audio[10]).abs().max() > 0.5


def test_without_time_codes_attention_ignores_the_order_of_the_steps():
    torch.manual_seed(0)
    x = sequences()
    shuffled = {"video": x["video"].flip(1), "audio": x["audio"]}
    plain = TemporalAttentionFusion(DIMS, dim=8, time_codes=False)
    torch.testing.assert_close(plain(shuffled), plain(x))
    timed = TemporalAttentionFusion(DIMS, dim=8)
    assert not torch.allclose(timed(shuffled), timed(x))


def test_clear_errors():
    fusion = TemporalAttentionFusion(DIMS, dim=8)
    x = sequences()
    with pytest.raises(ValueError, match=r"sequences\['audio'\] must have shape \(B, T, 5\).*got \(3, 16, 4\)"):
        fusion({"video": x["video"], "audio": x["audio"][..., :4]})
    with pytest.raises(ValueError, match=r"expected exactly the modalities \['video', 'audio'\], got \['video'\]"):
        fusion({"video": x["video"]})
    with pytest.raises(ValueError, match="batch size 2, expected 3"):
        fusion({"video": x["video"], "audio": x["audio"][:2]})
    with pytest.raises(ValueError, match=r"masks\['video'\] must be a bool tensor of shape \(3, 4\)"):
        fusion(x, masks={"video": torch.ones(3, 5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="mask for unknown modality 'text'"):
        fusion(x, masks={"text": torch.ones(3, 4, dtype=torch.bool)})
    empty = {m: torch.zeros(3, x[m].shape[1], dtype=torch.bool) for m in DIMS}
    empty["video"][1:] = True
    with pytest.raises(ValueError, match="at least one valid step"):
        fusion(x, masks=empty)
    with pytest.raises(TypeError, match="expects a dict"):
        LateTemporalFusion(DIMS)(x["video"])
    with pytest.raises(ValueError, match="dims"):
        LateTemporalFusion({})
    with pytest.raises(ValueError, match="num_queries"):
        TemporalAttentionFusion(DIMS, num_queries=0)
