"""Data-parallel helpers for :func:`course_lib.train.fit`: process group, ranks, sharded loaders, gathers.

``torchrun --nproc_per_node=N script.py`` starts N copies of a script and tells each one who it
is through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). :func:`setup` reads them and joins the process group (gloo on the CPU, NCCL
on GPUs); outside torchrun it does nothing, and every helper here then behaves as for one
process (rank 0 of a world of 1), so the same training code runs in both cases::

    device = setup(get_device())           # cuda:LOCAL_RANK on GPUs, the device itself otherwise
    loader = shard_loader(loader)          # each process reads its own 1/N of the data
    total = all_reduce_sum(local_total)    # a sum over all processes, on every process
    if is_main_process(): print(...)       # log, draw progress bars and write files on rank 0 only
    shutdown()                             # at the end of the script
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler


def launched_by_torchrun() -> bool:
    """True when the environment describes more than one process (``WORLD_SIZE`` > 1, set by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes training together (1 outside a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's number, 0 to ``world_size() - 1`` (0 outside a process group)."""
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """True on rank 0, the one process that logs, draws progress bars and writes checkpoints."""
    return rank() == 0


def backend_for(device: torch.device) -> str:
    """The collective backend for a device: NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device: torch.device) -> torch.device:
    """Join the process group that torchrun describes (once); return the device this process trains on.

    Under torchrun with a CUDA ``device`` each process takes the GPU ``cuda:LOCAL_RANK`` (one GPU
    per process). Outside torchrun (``WORLD_SIZE`` unset or 1) nothing happens and ``device`` is
    returned unchanged.
    """
    if not launched_by_torchrun() and not is_distributed():
        return device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device),
                                device_id=device if device.type == "cuda" else None)
    return device


def shutdown() -> None:
    """Leave the process group (call it once at the end of a torchrun script); nothing outside one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process reaches this line (nothing for one process)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: Tensor) -> Tensor:
    """The element-wise sum of ``values`` over all processes, returned on every process."""
    if not is_distributed():
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def gather_in_order(values: Tensor, total: int | None = None) -> Tensor:
    """Concatenate every process's ``values`` (N_rank, ...) in the order of the data they were sharded from.

    A :class:`~torch.utils.data.DistributedSampler` deals the samples out like cards: process r
    gets samples r, r + W, r + 2W, ... of its (shuffled) list, padded so that every process gets
    the same number. Interleaving the gathered rows undoes the deal; ``total`` (the length of
    the dataset) cuts off the padding. Every process receives the whole result.
    """
    if not is_distributed():
        return values if total is None else values[:total]
    sizes = [torch.zeros(1, dtype=torch.long, device=values.device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([len(values)], device=values.device))
    counts = [int(size) for size in sizes]
    longest = max(counts)
    padded = torch.zeros((longest, *values.shape[1:]), dtype=values.dtype, device=values.device)
    padded[:len(values)] = values
    pieces = [torch.empty_like(padded) for _ in range(world_size())]
    dist.all_gather(pieces, padded)
    interleaved = torch.stack(pieces, dim=1).flatten(0, 1)  # row i * W + r: the i-th row of process r
    keep = [i * world_size() + r for i in range(longest) for r, count in enumerate(counts) if i < count]
    result = interleaved[keep]
    return result if total is None else result[:total]


def rebuild_loader(loader: DataLoader, *, sampler=None, pin_memory: bool | None = None) -> DataLoader:
    """A copy of ``loader`` (same dataset, batch size, collate, workers) with another sampler or pinning."""
    if loader.batch_size is None:
        raise ValueError("fit can only re-shard a DataLoader built with batch_size (not a custom batch_sampler)")
    workers = loader.num_workers
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler or loader.sampler,
                      num_workers=workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory if pin_memory is None else pin_memory,
                      drop_last=loader.drop_last, timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
                      generator=loader.generator, prefetch_factor=loader.prefetch_factor if workers else None,
                      persistent_workers=loader.persistent_workers if workers else False)


def shard_loader(loader: DataLoader) -> DataLoader:
    """The same DataLoader reading only this process's share of the data, through a ``DistributedSampler``.

    The batch size stays the loader's: it is the batch size *per process*, so the global batch
    is ``world_size() * loader.batch_size``. A shuffled loader stays shuffled, every process
    with the same seed (the loader's generator's seed, else 0) so that the shares do not
    overlap; call ``loader.sampler.set_epoch(epoch)`` before every epoch for a new order.
    Outside a process group, or already sharded, the loader is returned unchanged.
    """
    if not is_distributed() or isinstance(loader.sampler, DistributedSampler):  # one process, or sharded already
        return loader
    shuffle = isinstance(loader.sampler, RandomSampler)
    seed = loader.generator.initial_seed() if loader.generator is not None else 0
    sampler = DistributedSampler(loader.dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed)
    return rebuild_loader(loader, sampler=sampler)
