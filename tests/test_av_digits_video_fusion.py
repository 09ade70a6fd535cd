"""The audio-video fusion experiment of notebook 09: data tensors, models, training rows."""
import numpy as np
import pytest
import torch

from course_lib.data.av_digits_video import AVDigitsVideo
from course_lib.experiments import av_digits_video_fusion as avf
from course_lib.models.glimpse import CONTEXT_FRAMES, GlimpseFrameEncoder, glimpse, spatial_soft_argmax
from course_lib.models.modality_dropout import drop_modalities

SIZES = (12, 6, 6)  # train, val, test


def fake_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Random clips with the generator's keys, shapes and dtypes (no speech synthesis needed)."""
    rng = np.random.default_rng(seed)
    n = sum(SIZES)
    return {
        "video": rng.integers(0, 256, size=(n, 16, 32, 32), dtype=np.uint8),
        "audio": rng.integers(-3000, 3000, size=(n, 16000)).astype(np.int16),
        "split": np.repeat(np.arange(3, dtype=np.int8), SIZES),
        "digit": rng.integers(0, 10, n), "motion": rng.integers(0, 8, n), "voice": rng.integers(0, 6, n),
        "degraded": rng.integers(0, 3, n),
        "onset": np.tile([0.1, 1.2], n // 2).astype(np.float32),
        "position": rng.uniform(8, 24, size=(n, 16, 2)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def tensors() -> avf.VideoAudioTensors:
    return avf.load_tensors(arrays=fake_arrays())


def test_tensors_per_split(tensors):
    train = tensors.splits["train"]
    assert train["video"].shape == (12, 16, 32, 32) and train["video"].dtype == torch.uint8
    assert train["audio"].shape == (12, avf.N_MELS, 16 * avf.AUDIO_STEPS_PER_FRAME)
    assert tensors.fps == 8 and len(tensors.splits["test"]["digit"]) == 6
    assert train["audio"].std().item() == pytest.approx(1.0, rel=1e-3)  # scaled by the training clips' std
    torch.testing.assert_close(train["audio"].mean(dim=-1), torch.zeros(12, avf.N_MELS), atol=1e-4, rtol=0)
    assert -1 < train["position"].min() and train["position"].max() < 1


def test_synchrony_pairs_match_the_dataset(tensors):
    arrays = fake_arrays()
    dataset = AVDigitsVideo("val", pairing="synchrony", arrays=arrays)
    pairs = avf.synchrony_pairs(tensors, "val")
    assert len(pairs["sync"]) == len(dataset) == 12
    assert pairs["sync"].tolist() == [dataset[i]["sync"].item() for i in range(len(dataset))]
    for i in range(len(dataset)):
        expected = tensors.frontend(dataset[i]["audio"][None])[0]
        torch.testing.assert_close(pairs["audio"][i], expected, atol=1e-3, rtol=1e-3)


def test_spatial_soft_argmax_and_glimpse_find_the_right_place():
    heatmap = torch.full((2, 8, 8), -50.0)
    heatmap[0, 2, 5] = 50.0  # one peak: row 2 (y), column 5 (x)
    heatmap[1, 2, 1] = heatmap[1, 2, 5] = 50.0  # two equal peaks on row 2, columns 1 and 5
    def at(i):
        return (2 * i + 1) / 8 - 1  # pixel centre i of 8 in (-1, 1)
    centres, spread = spatial_soft_argmax(heatmap)
    torch.testing.assert_close(centres, torch.tensor([[at(5), at(2)], [at(3), at(2)]]))
    torch.testing.assert_close(spread, torch.tensor([0.0, at(5) - at(3)]), atol=1e-3, rtol=0)  # halfway between
    frame = torch.zeros(1, 1, 32, 32)
    frame[0, 0, 20:24, 4:8] = 1.0  # a square centred on pixel (5.5, 21.5)
    centre = torch.tensor([[(5.5 + 0.5) / 16 - 1, (21.5 + 0.5) / 16 - 1]])
    crop = glimpse(frame, centre, window=0.25, size=8)  # 8 x 8 pixels around the centre
    torch.testing.assert_close(crop[0, 0, 2:6, 2:6], torch.ones(4, 4))
    assert crop.sum() == pytest.approx(16.0)


def test_locator_context_holds_the_neighbours_and_the_mean_frame():
    video = torch.arange(2 * 5 * 4 * 4).view(2, 5, 4, 4).to(torch.uint8)
    context = GlimpseFrameEncoder.context(video).view(2, 5, CONTEXT_FRAMES, 4, 4)
    frames = video.float() / 255
    torch.testing.assert_close(context[:, :, 1], frames)
    torch.testing.assert_close(context[:, :, 0], frames[:, [0, 0, 1, 2, 3]])  # previous frame, the first repeated
    torch.testing.assert_close(context[:, :, 2], frames[:, [1, 2, 3, 4, 4]])  # next frame, the last repeated
    torch.testing.assert_close(context[:, :, 3], frames.mean(dim=1, keepdim=True).expand(-1, 5, -1, -1))


def test_frame_encoder_path_ignores_where_the_digit_is(tensors):
    torch.manual_seed(0)
    encoder = GlimpseFrameEncoder(out_dim=8).eval()
    video = tensors.splits["train"]["video"][:2]
    centres, spread = encoder.locate(video)
    assert centres.shape == (2, 16, 2) and spread.shape == (2, 16) and (spread > 0).all()
    path = encoder(video, (centres, spread))[..., 4:]  # the second half: how the digit moves
    shifted = encoder(video, (centres + torch.tensor([0.1, -0.2]), spread))[..., 4:]
    torch.testing.assert_close(shifted, path)
    assert not torch.allclose(encoder(video, (centres, 2 * spread))[..., 4:], path)


@pytest.mark.parametrize("method", list(avf.METHODS))
def test_every_method_maps_a_batch_to_task_logits(method, tensors):
    torch.manual_seed(0)
    model = avf.build_model(method, dim=8)
    batch = {k: tensors.splits["train"][k][:3] for k in ("video", "audio")}
    outputs = model(batch)
    _, modalities, trained_on, _ = avf.METHODS[method]
    assert list(model.modalities) == list(modalities)
    assert list(model.heads) == [t for t in trained_on if t in avf.TASKS]
    for task in model.heads:
        assert outputs[task].shape == (3, avf.TASKS[task])
    assert ("position" in outputs) == ("video" in modalities)
    assert ("position" in model.targets) == ("position" in trained_on)
    sum(o.sum() for o in outputs.values()).backward()
    for modality in modalities:
        grads = [p.grad for p in model.encoders[modality].parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"no gradient reaches the {modality} encoder"


def test_modality_dropout_zeroes_whole_clips_of_one_modality():
    torch.manual_seed(0)
    inputs = {"video": torch.ones(200, 2, 3), "audio": torch.ones(200, 4)}
    out, kept = drop_modalities(inputs, 0.5)
    video_kept, audio_kept = out["video"].flatten(1).all(1), out["audio"].all(1)
    assert (out["video"].flatten(1).sum(1) % 6 == 0).all()  # a clip is either kept whole or zeroed
    assert torch.equal(kept["video"], video_kept) and torch.equal(kept["audio"], audio_kept)
    assert (video_kept | audio_kept).all()  # never both zeroed
    assert 30 < (~video_kept).sum() < 70 and 30 < (~audio_kept).sum() < 70


def test_training_outputs_say_which_clips_kept_each_modality(tensors):
    model = avf.build_model("late", dim=8)
    batch = {k: tensors.splits["train"][k][:6] for k in ("video", "audio")}
    torch.manual_seed(1)
    outputs = model.train()(batch)
    assert outputs["video_kept"].shape == outputs["audio_kept"].shape == (6,)
    assert (outputs["video_kept"] | outputs["audio_kept"]).all()
    assert "video_kept" not in model.eval()(batch)


def test_multitask_loss_skips_the_tasks_of_a_dropped_modality():
    torch.manual_seed(0)
    outputs = {"digit": torch.randn(4, 10), "motion": torch.randn(4, 8), "voice": torch.randn(4, 6),
               "position": torch.randn(4, 16, 2)}
    targets = {"digit": torch.randint(10, (4,)), "motion": torch.randint(8, (4,)), "voice": torch.randint(6, (4,)),
               "position": torch.randn(4, 16, 2)}
    plain = avf.multitask_loss(outputs, targets)
    ce = torch.nn.functional.cross_entropy
    expected = (ce(outputs["digit"], targets["digit"]) + ce(outputs["motion"], targets["motion"])
                + ce(outputs["voice"], targets["voice"])
                + avf.POSITION_WEIGHT * torch.nn.functional.mse_loss(outputs["position"], targets["position"]))
    torch.testing.assert_close(plain, expected)
    video_kept, audio_kept = torch.tensor([True, False, True, True]), torch.tensor([True, True, False, True])
    masked = avf.multitask_loss({**outputs, "video_kept": video_kept, "audio_kept": audio_kept}, targets)
    v, a = video_kept, audio_kept
    expected = (ce(outputs["digit"], targets["digit"]) + ce(outputs["motion"][v], targets["motion"][v])
                + ce(outputs["voice"][a], targets["voice"][a])
                + avf.POSITION_WEIGHT * torch.nn.functional.mse_loss(outputs["position"][v], targets["position"][v]))
    torch.testing.assert_close(masked, expected)
    # a target the batch does not hold (a single-task model) adds no loss
    torch.testing.assert_close(avf.multitask_loss(outputs, {"digit": targets["digit"]}),
                               ce(outputs["digit"], targets["digit"]))
    # the motion loss of the clip whose video was dropped gets no gradient
    logits = outputs["motion"].clone().requires_grad_(True)
    avf.multitask_loss({"motion": logits, "video_kept": video_kept, "audio_kept": audio_kept},
                       {"motion": targets["motion"]}).backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0].abs().sum() > 0


def test_single_task_models_have_one_loss(tensors):
    for task, method in avf.SINGLE_TASK.items():
        model = avf.build_model(method, dim=8)
        assert list(model.heads) == [task] and model.targets == [task]


def test_train_method_row_and_determinism(tensors):
    results = [avf.train_method("late", tensors, epochs=1, seed=0, batch_size=6, dim=8, device=torch.device("cpu"))
               for _ in range(2)]
    rows = [result.row for result in results]
    for key in ("digit_accuracy", "motion_accuracy", "voice_accuracy", "digit_macro_f1", "motion_macro_f1",
                "voice_macro_f1", "digit_accuracy_audio", "position_error_px", "parameters", "seconds", "seed"):
        assert key in rows[0], key
    test = tensors.splits["test"]
    with torch.no_grad():
        outputs = results[0].model.eval()({"video": test["video"], "audio": test["audio"]})
    correct = outputs["digit"].argmax(1) == test["digit"]
    assert rows[0]["digit_accuracy"] == pytest.approx(correct.float().mean().item())
    for code, name in enumerate(("none", "video", "audio")):
        if (test["degraded"] == code).any():
            expected = correct[test["degraded"] == code].float().mean().item()
            assert rows[0][f"digit_accuracy_{name}"] == pytest.approx(expected), name
        else:
            assert f"digit_accuracy_{name}" not in rows[0]  # no clip in that group: no score, not NaN
    assert rows[0]["parameters"] == sum(p.numel() for p in results[0].model.parameters())
    assert {k: v for k, v in rows[0].items() if k != "seconds"} == {k: v for k, v in rows[1].items() if k != "seconds"}


def test_ablation_zeroes_one_input(tensors):
    loader = avf.ablated_loader(tensors, "test", ["video", "audio"], ["digit"], zero="audio")
    batch = next(iter(loader))
    assert (batch["audio"] == 0).all() and batch["video"].any()
    with pytest.raises(ValueError, match="zero must be one of"):
        avf.ablated_loader(tensors, "test", ["video"], ["digit"], zero="audio")


def test_synchrony_and_autoencoder_train(tensors):
    trained = avf.train_synchrony(tensors, epochs=1, batch_size=8, dim=8, device=torch.device("cpu"))
    sync = trained.row
    pairs = avf.synchrony_pairs(tensors, "test")
    with torch.no_grad():
        logits = trained.model.eval()({"video": pairs["video"], "audio": pairs["audio"]})["sync"]
    assert sync["sync_accuracy"] == pytest.approx((logits.argmax(1) == pairs["sync"]).float().mean().item())
    assert sync["tasks"] == ["sync"] and pairs["sync"].tolist() == [1, 0] * (len(pairs["sync"]) // 2)
    result = avf.train_autoencoder(tensors, epochs=1, batch_size=6, dim=8, device=torch.device("cpu"))
    for key in ("digit_accuracy", "motion_accuracy", "voice_accuracy", "video_error", "audio_error", "reconstruction",
                "audio_from_video", "video_from_audio"):
        assert key in result.row, key
    assert result.row["reconstruction"] == pytest.approx((result.row["video_error"] + result.row["audio_error"]) / 2)
    outputs = result.model.eval()({k: tensors.splits["test"][k] for k in ("video", "audio")})
    assert outputs["code"].shape == (6, 32) and outputs["video"].shape == (6, 16, 16, 16)
    assert outputs["audio"].shape == tensors.splits["test"]["audio"].shape


def test_autoencoder_baseline_is_the_mean_clip(tensors):
    means = avf.mean_clips(tensors)
    train = tensors.splits["train"]
    assert means["video"].shape == (16, 16, 16) and means["audio"].shape == train["audio"].shape[1:]
    targets = {"video_target": avf.autoencoder_targets(train["video"]), "audio_target": train["audio"]}
    mean_outputs = {m: means[m].expand_as(targets[f"{m}_target"]) for m in ("video", "audio")}
    baselines = {m: torch.nn.functional.mse_loss(mean_outputs[m], targets[f"{m}_target"]).item() for m in means}
    errors = avf.reconstruction_errors(mean_outputs, targets, baselines)
    assert all(e.item() == pytest.approx(1.0) for e in errors.values())  # the mean clip scores 1
    perfect = avf.reconstruction_errors({m: targets[f"{m}_target"] for m in means}, targets, baselines)
    assert all(e.item() == 0 for e in perfect.values())
    # a code of zeros, with the decoders' last biases zeroed, rebuilds exactly the mean clip
    encoders = {m: avf.make_encoder(m, dim=8) for m in ("video", "audio")}
    model = avf.MultimodalAutoencoder(encoders, means).eval()
    for decoder in model.decoders.values():
        torch.nn.init.zeros_(decoder[-1].weight)
        torch.nn.init.zeros_(decoder[-1].bias)
    outputs = model({k: train[k][:2] for k in ("video", "audio")})
    torch.testing.assert_close(outputs["video"], means["video"].expand(2, -1, -1, -1))
    torch.testing.assert_close(outputs["audio"], means["audio"].expand(2, -1, -1))


def test_clear_errors(tensors):
    with pytest.raises(ValueError, match="unknown method 'early'"):
        avf.build_model("early")
    model = avf.build_model("late")
    with pytest.raises(ValueError, match=r"missing modality 'audio'"):
        model({"video": tensors.splits["train"]["video"][:2]})
    with pytest.raises(ValueError, match=r"video must have shape \(B, T, H, W\)"):
        model({"video": torch.zeros(2, 32, 32), "audio": tensors.splits["train"]["audio"][:2]})
    with pytest.raises(ValueError, match=r"audio must have shape \(B, 40, T\)"):
        model({"video": tensors.splits["train"]["video"][:2], "audio": torch.zeros(2, 64, 40)})
    with pytest.raises(ValueError, match="split must be one of"):
        tensors.loader("dev", ["video"])
