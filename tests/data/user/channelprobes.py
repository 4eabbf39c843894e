"""Probes that attack the runner's protocol channel: write to it, close it, replace it."""

from __future__ import annotations

import fcntl
import json
import os
import stat

import torch


def _channel() -> int:
    """The worker's answer pipe: the one descriptor above 2 that is a pipe open for writing."""
    for name in sorted(os.listdir("/dev/fd"), key=int):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            mode = os.fstat(fd).st_mode
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue  # the listing's own descriptor, gone by now
        if stat.S_ISFIFO(mode) and flags & os.O_ACCMODE == os.O_WRONLY:
            return fd
    raise RuntimeError("no answer pipe found")


def _result() -> torch.Tensor:
    return torch.arange(4.0)


def fine(device: torch.device) -> torch.Tensor:
    """The entry after each attack: it must get its normal status."""
    return torch.arange(4.0, device=device) * 2


def write_fd3(device: torch.device) -> torch.Tensor:
    os.write(3, b"garbage\n")
    return _result()


def close_fd3(device: torch.device) -> torch.Tensor:
    os.close(3)
    return _result()


def dup2_fd3(device: torch.device) -> torch.Tensor:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 3)
    return _result()


def write_channel(device: torch.device) -> torch.Tensor:
    os.write(_channel(), b"garbage\n")
    return _result()


def close_channel(device: torch.device) -> torch.Tensor:
    os.close(_channel())
    return _result()


def dup2_channel(device: torch.device) -> torch.Tensor:
    os.dup2(os.open(os.devnull, os.O_WRONLY), _channel())
    return _result()


def forge_answer(device: torch.device) -> torch.Tensor:
    """A well-formed answer, but for another entry."""
    line = {"type": "result", "id": "someone-else", "device": "cpu"}
    os.write(_channel(), (json.dumps(line) + "\n").encode())
    return _result()
