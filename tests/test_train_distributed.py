"""The training loop at scale: two gloo processes, mixed precision, gradient accumulation, host syncs.

Tolerances: two processes sum the same per-sample gradients in another order (each process
averages its half of the batch, then the all-reduce averages the halves), so float32 weights
agree to about 1e-6 after a few steps, not bit for bit; we allow 1e-5.
"""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_train import ConcatNet, TwoModalityBlobs, train_once
from torch import nn
from torch.utils.data import DataLoader

import course_lib.train
from course_lib import distributed
from course_lib.config import seed_everything
from course_lib.train import evaluate, fit, load_checkpoint, train_one_epoch

WEIGHT_TOLERANCE = 1e-5
SAMPLES, GLOBAL_BATCH, EPOCHS = 256, 64, 2  # 4 optimizer steps an epoch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_blobs(batch_size: int, checkpoint_path=None, **kwargs):
    """ConcatNet trained with SGD + momentum on an unshuffled loader (same batches in any process count)."""
    seed_everything(0)
    model = ConcatNet()
    train = DataLoader(TwoModalityBlobs(SAMPLES, seed=1), batch_size=batch_size)
    val = DataLoader(TwoModalityBlobs(100, seed=2), batch_size=32)  # 100 samples: uneven shares of 50
    result = fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy,
                 optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=EPOCHS,
                 device=torch.device("cpu"), progress=False, checkpoint_path=checkpoint_path, **kwargs)
    return model, result


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    """One of ``world`` processes: the same fit call as one process, with 1/world of the global batch."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        saves = []
        real_save = course_lib.train.save_checkpoint
        course_lib.train.save_checkpoint = lambda *args, **kwargs: (saves.append(rank), real_save(*args, **kwargs))
        path = f"{folder}/best.pt"
        model, result = train_blobs(GLOBAL_BATCH // world, checkpoint_path=path)
        fresh = ConcatNet()
        load_checkpoint(fresh, path)  # every process loads rank 0's file, weights only
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
        torch.save({"state": model.state_dict(), "history": result.history, "saves": saves},
                   f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """What each of two gloo processes trained (rank 0 and rank 1), and the single-process run."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, free_port(), str(folder)), nprocs=2, join=True)
    ranks = [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single_model, single = train_blobs(GLOBAL_BATCH)
    return ranks, single_model.state_dict(), single.history


def test_two_processes_give_the_weights_of_one_process_with_the_same_global_batch(two_processes):
    ranks, single_state, _ = two_processes
    for name, weight in single_state.items():
        for r in ranks:
            torch.testing.assert_close(r["state"][name], weight, atol=WEIGHT_TOLERANCE, rtol=0,
                                       msg=lambda m, name=name: f"{name}: {m}")
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name])  # DDP keeps the copies identical


def test_two_processes_report_the_single_process_metrics(two_processes):
    ranks, _, single = two_processes
    for r in ranks:
        for key in ("train_loss", "train_score", "val_loss", "val_score"):
            assert r["history"][key] == pytest.approx(single[key], rel=1e-5), key


def test_only_rank_0_writes_the_checkpoint(two_processes):
    ranks, _, _ = two_processes
    assert ranks[1]["saves"] == []
    assert ranks[0]["saves"] == [0] * len(ranks[0]["saves"]) and len(ranks[0]["saves"]) >= 1


def test_gather_in_order_undoes_the_distributed_samplers_deal():
    # outside a process group it is the identity (the deal itself is checked by the val metrics above)
    rows = torch.arange(10)
    assert torch.equal(distributed.gather_in_order(rows), rows)
    assert torch.equal(distributed.gather_in_order(rows, total=7), rows[:7])
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main_process()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_the_cpu(precision):
    model, result, val = train_once(epochs=4, precision=precision)
    assert result.best_score > 0.9
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    assert evaluate(model, val, nn.functional.cross_entropy, precision=precision)["score"] == pytest.approx(
        result.best_score)


def test_bad_precision_and_accumulate_are_clear_errors():
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16', 'fp16'\], got 'fp8'"):
        train_once(epochs=1, precision="fp8")
    with pytest.raises(ValueError, match="accumulate must be an int >= 1, got 0"):
        train_once(epochs=1, accumulate=0)


def test_gradient_accumulation_over_k_batches_equals_one_k_times_larger_batch():
    accumulated, _ = train_blobs(16, accumulate=4)
    large, _ = train_blobs(64)
    for name, weight in large.state_dict().items():
        torch.testing.assert_close(accumulated.state_dict()[name], weight, atol=WEIGHT_TOLERANCE, rtol=0)


def test_a_short_last_group_still_steps_once():
    seed_everything(0)
    model = ConcatNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    loader = DataLoader(TwoModalityBlobs(10 * 8, seed=1), batch_size=8)  # 10 batches: groups of 4, 4, 2
    train_one_epoch(model, loader, nn.functional.cross_entropy, optimizer, torch.device("cpu"), accumulate=4)
    assert len(steps) == 3


def test_compile_trains_through_torch_compile(monkeypatch):
    compiled = []
    monkeypatch.setattr(course_lib.train.torch, "compile", lambda module: compiled.append(module) or module)
    model, result, _ = train_once(epochs=1, compile=True)
    assert compiled == [model] and result.best_score > 0.5


SYNCS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__")


def count_host_reads(monkeypatch) -> list[str]:
    """Record every Python-level call that copies a tensor's value to the host (a sync on a GPU)."""
    calls = []
    for name in SYNCS:
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return calls


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_epoch_reads_the_device_a_fixed_number_of_times_whatever_its_length(monkeypatch, precision):
    def reads(batches: int) -> int:
        seed_everything(0)
        model = ConcatNet()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(TwoModalityBlobs(16 * batches, seed=1), batch_size=16)
        with monkeypatch.context() as patch:
            calls = count_host_reads(patch)
            train_one_epoch(model, loader, nn.functional.cross_entropy, optimizer, torch.device("cpu"),
                            grad_clip=1.0, precision=precision)
        return len(calls)

    few, many = reads(3), reads(12)
    assert few == many, f"{few} host reads for 3 steps but {many} for 12: something syncs on every step"
    assert few <= 8  # the losses, the outputs, the targets and the score, read once each


def test_a_diverging_loss_names_its_step():
    model = ConcatNet()
    train = DataLoader(TwoModalityBlobs(64, seed=1), batch_size=16)
    with pytest.raises(FloatingPointError, match="the loss became nan at step 1 of the epoch; lower the learning"):
        train_one_epoch(model, train, lambda out, tgt: out.sum() * float("nan"),
                        torch.optim.SGD(model.parameters(), lr=0.1), torch.device("cpu"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_and_compile_on_cuda(precision, tmp_path):
    seed_everything(0)
    model = ConcatNet()
    train = DataLoader(TwoModalityBlobs(800, seed=1), batch_size=64, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    val = DataLoader(TwoModalityBlobs(400, seed=2), batch_size=128)
    result = fit(model, train, val_loader=val, loss_fn=nn.functional.cross_entropy,
                 optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), epochs=4, device=torch.device("cuda"),
                 progress=False, precision=precision, compile=True, checkpoint_path=tmp_path / "best.pt")
    assert next(model.parameters()).is_cuda and result.best_score > 0.9
    assert load_checkpoint(ConcatNet(), tmp_path / "best.pt")["epoch"] == result.best_epoch
