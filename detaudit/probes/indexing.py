"""Probes for advanced indexing: __getitem__, index_put, put_, index_*, repeat_interleave."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes import skip
from detaudit.probes._common import colliding_index, grad_of

# Every probe writes many more values than there are targets, so most targets are hit
# many times: that is where a CUDA kernel's atomics or last-writer-wins races show.
_TARGETS = 1024
_WRITES = 65536
_ROW = 16


def getitem_index_list_backward(device: torch.device) -> Tensor:
    """Gradient of ``x[i, j]`` with colliding index tensors (backward is ``index_put_`` accumulate)."""
    i, j = colliding_index(32, _WRITES, device), colliding_index(32, _WRITES, device)
    # x[i, j] is the tuple form: a list ``x[[i, j]]`` is deprecated since torch 2.5 and
    # warns; both reach aten::index with the indices as a list of tensors.
    return grad_of(lambda x: x[i, j], torch.randn(32, 32, device=device))


def _writes(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """A zero target, colliding flat indices into it and the values to write."""
    index = colliding_index(_TARGETS, _WRITES, device)
    return torch.zeros(_TARGETS, device=device), index, torch.randn(_WRITES, device=device)


def _index_put(device: torch.device, accumulate: bool) -> Tensor:
    x, index, values = _writes(device)
    return x.index_put((index,), values, accumulate=accumulate)


def index_put_accumulate_false(device: torch.device) -> Tensor:
    """``Tensor.index_put`` (accumulate=False) with repeated indices: which write wins."""
    return _index_put(device, accumulate=False)


def index_put_accumulate_true(device: torch.device) -> Tensor:
    """``Tensor.index_put`` (accumulate=True) with repeated indices: the order of the sums."""
    return _index_put(device, accumulate=True)


def _put(device: torch.device, accumulate: bool) -> Tensor:
    x, index, values = _writes(device)
    return x.put_(index, values, accumulate=accumulate)


def put_accumulate_false(device: torch.device) -> Tensor:
    """``Tensor.put_`` (accumulate=False) with repeated indices."""
    return _put(device, accumulate=False)


def put_accumulate_true(device: torch.device) -> Tensor:
    """``Tensor.put_`` (accumulate=True) with repeated indices; serves the CPU and the CUDA entry."""
    return _put(device, accumulate=True)


def index_add(device: torch.device) -> Tensor:
    """``torch.index_add`` of rows into repeated destination rows."""
    rows = _WRITES // _ROW
    index = colliding_index(_TARGETS // _ROW, rows, device)
    x = torch.zeros(_TARGETS // _ROW, _ROW, device=device)
    return torch.index_add(x, 0, index, torch.randn(rows, _ROW, device=device))


def index_select_backward(device: torch.device) -> Tensor:
    """Gradient of ``torch.index_select`` with repeated indices (backward is ``index_add``)."""
    index = colliding_index(_TARGETS // _ROW, _WRITES // _ROW, device)
    x = torch.randn(_TARGETS // _ROW, _ROW, device=device)
    return grad_of(lambda t: torch.index_select(t, 0, index), x)


def repeat_interleave_backward(device: torch.device) -> Tensor:
    """Gradient of ``torch.repeat_interleave`` with tensor repeats (backward sums the copies)."""
    repeats = torch.randint(1, 16, (_TARGETS,), device=device)
    x = torch.randn(_TARGETS, _ROW // 2, device=device)
    return grad_of(lambda t: torch.repeat_interleave(t, repeats, dim=0), x)


def index_copy(device: torch.device) -> Tensor:
    """``Tensor.index_copy`` with repeated indices: which row wins."""
    rows = _WRITES // _ROW
    index = colliding_index(_TARGETS // _ROW, rows, device)
    x = torch.zeros(_TARGETS // _ROW, _ROW, device=device)
    return x.index_copy(0, index, torch.randn(rows, _ROW, device=device))


def _index_reduce(device: torch.device, reduce: str) -> Tensor:
    if not hasattr(torch.Tensor, "index_reduce"):
        skip("torch < 1.12 lacks Tensor.index_reduce")
    rows = _WRITES // _ROW
    index = colliding_index(_TARGETS // _ROW, rows, device)
    # Factors near 1 keep a product of ~64 of them finite and rounding-sensitive.
    source = 1 + 0.01 * torch.randn(rows, _ROW, device=device)
    x = torch.ones(_TARGETS // _ROW, _ROW, device=device)
    return x.index_reduce(0, index, source, reduce)


def index_reduce_prod(device: torch.device) -> Tensor:
    """``Tensor.index_reduce`` with ``reduce='prod'`` into repeated destination rows."""
    return _index_reduce(device, "prod")


def index_reduce_mean(device: torch.device) -> Tensor:
    """``Tensor.index_reduce`` with ``reduce='mean'`` into repeated destination rows."""
    return _index_reduce(device, "mean")
