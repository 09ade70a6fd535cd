"""pad_collate: stacking, zero padding along time, masks, lengths, strings, errors."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from course_lib.data import pad_collate


def test_fixed_size_tensors_and_numbers_are_stacked():
    batch = [{"image": torch.full((1, 4, 4), float(i)), "label": i} for i in range(3)]
    out = pad_collate(batch)
    assert out["image"].shape == (3, 1, 4, 4)
    assert torch.equal(out["image"][:, 0, 0, 0], torch.tensor([0.0, 1.0, 2.0]))
    assert out["label"].dtype == torch.int64 and out["label"].tolist() == [0, 1, 2]
    assert set(out) == {"image", "label"}


def test_variable_length_tensors_are_zero_padded_with_mask_and_lengths():
    batch = [{"audio": torch.arange(1.0, n + 1)} for n in (3, 5, 1)]
    out = pad_collate(batch)
    expected = torch.tensor([[1, 2, 3, 0, 0], [1, 2, 3, 4, 5], [1, 0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(out["audio"], expected)
    assert out["audio_mask"].dtype == torch.bool
    assert torch.equal(out["audio_mask"], expected != 0)
    assert out["audio_lengths"].dtype == torch.int64 and out["audio_lengths"].tolist() == [3, 5, 1]


def test_padding_is_along_the_last_axis_of_multichannel_tensors():
    batch = [{"mel": torch.ones(2, 4)}, {"mel": torch.ones(2, 6)}, {"mel": np.ones((2, 3), np.float32)}]
    out = pad_collate(batch)
    assert out["mel"].shape == (3, 2, 6)
    assert out["mel_mask"].shape == (3, 6)
    assert out["mel"][0, :, 4:].abs().sum() == 0 and out["mel"][0, :, :4].sum() == 8
    assert out["mel_lengths"].tolist() == [4, 6, 3]


def test_strings_pass_through_as_a_list():
    out = pad_collate([{"question": "what colour?", "label": 1}, {"question": "how many?", "label": 0}])
    assert out["question"] == ["what colour?", "how many?"]


def test_pad_keys_always_get_a_mask_even_when_lengths_agree():
    batch = [{"audio": torch.ones(4)}, {"audio": torch.ones(4)}]
    assert "audio_mask" not in pad_collate(batch)
    out = pad_collate(batch, pad_keys={"audio"})
    assert out["audio_mask"].all() and out["audio_lengths"].tolist() == [4, 4]


def test_mismatch_on_a_non_time_axis_names_the_key():
    batch = [{"video": torch.zeros(3, 8, 8, 10)}, {"video": torch.zeros(3, 8, 9, 12)}]
    with pytest.raises(ValueError, match=r"'video'.*\(3, 8, 9, 12\)"):
        pad_collate(batch)


def test_different_keys_and_empty_batches_are_errors():
    with pytest.raises(ValueError, match="keys"):
        pad_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(ValueError, match="empty"):
        pad_collate([])
    with pytest.raises(TypeError, match="'meta'"):
        pad_collate([{"meta": {"x": 1}}])


def test_works_as_a_dataloader_collate_fn():
    data = [{"audio": torch.randn(n), "label": torch.tensor(n % 2)} for n in (5, 9, 7, 6)]
    batch = next(iter(DataLoader(data, batch_size=4, collate_fn=pad_collate)))
    assert batch["audio"].shape == (4, 9)
    assert torch.equal(batch["audio"][2, :7], data[2]["audio"])
    assert batch["label"].shape == (4,)
