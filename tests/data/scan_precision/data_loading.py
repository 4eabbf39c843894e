# Written for detaudit's tests; never run (the static scan only reads it).
"""Data loading and buffers: queues from torch.multiprocessing are not tensors."""

import queue

import torch
import torch.multiprocessing as mp


def worker_loop(dataset, index_queue: mp.Queue, out_queue):
    while True:
        index = index_queue.get()
        out_queue.put((index, dataset[index]))


def start(dataset):
    results = mp.Queue()
    results.put(dataset[0])
    torch.multiprocessing.Queue().put(1)
    local = queue.Queue()
    local.put(2)
    ctx = mp.get_context("spawn")
    ctx.Queue().put(3)
    return results


def scatter_into(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    buffer = torch.zeros(1024)
    buffer.put_(index, values)  # raises: put-accumulate-false
    return buffer


def counts(labels: torch.Tensor, weights: torch.Tensor, bins: int):
    plain = torch.bincount(labels)
    weighted = torch.bincount(labels, weights=weights)  # raises: bincount
    hist = torch.histc(labels.float(), bins=bins)  # raises: histc
    return plain, weighted, hist
