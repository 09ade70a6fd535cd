"""In-memory datasets of tensors, batched as dicts."""
import pytest
import torch

from course_lib.data.tensors import TensorDictDataset, tensor_loader


def test_tensor_dict_dataset_rows_and_length_check():
    data = TensorDictDataset({"image": torch.arange(12.0).view(3, 1, 2, 2), "label": torch.tensor([4, 5, 6])})
    assert len(data) == 3 and data[1]["label"] == 5
    torch.testing.assert_close(data[1]["image"], torch.tensor([[[4.0, 5.0], [6.0, 7.0]]]))
    with pytest.raises(ValueError, match="same length"):
        TensorDictDataset({"image": torch.zeros(3, 1), "label": torch.zeros(2)})
    with pytest.raises(ValueError, match="at least one key"):
        TensorDictDataset({})


def test_tensor_loader_shuffles_reproducibly_and_keeps_rows_together():
    tensors = {"x": torch.arange(10), "y": torch.arange(10) * 10}
    first = [batch for batch in tensor_loader(tensors, batch_size=4, shuffle=True, seed=3)]
    again = [batch for batch in tensor_loader(tensors, batch_size=4, shuffle=True, seed=3)]
    other = torch.cat([b["x"] for b in tensor_loader(tensors, batch_size=4, shuffle=True, seed=4)])
    order = torch.cat([b["x"] for b in first])
    assert [len(b["x"]) for b in first] == [4, 4, 2]
    assert torch.equal(order, torch.cat([b["x"] for b in again])) and not torch.equal(order, other)
    assert sorted(order.tolist()) == list(range(10)) and not torch.equal(order, torch.arange(10))
    assert all(torch.equal(b["y"], b["x"] * 10) for b in first)
    assert torch.equal(torch.cat([b["x"] for b in tensor_loader(tensors, batch_size=4)]), torch.arange(10))
