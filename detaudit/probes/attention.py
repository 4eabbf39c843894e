"""Probes for attention: ``scaled_dot_product_attention`` under each forced backend, flex_attention.

No docstring of ``torch.use_deterministic_algorithms`` lists attention, so these
probes feed the ``observed`` group (catalog/attention.yaml): what deterministic
mode does to each backend is known only by running it.

Sizes: on CUDA, training shapes (batch 4, 16 heads, sequence 1024, head dim 64,
bf16), large enough for a backward kernel that splits its reductions over
blocks (and adds the partial sums with atomics) to race, and still a
millisecond or two on a datacenter GPU. On CPU, fp32 (the CPU kernels' training
dtype) at batch 2, 4 heads, sequence 128: the CPU kernels split work over
(batch, head, query block) and reduce within a thread, with no atomics, so
larger shapes would only cost time, and the default audit stays fast.

A backend that cannot run the inputs here (``sdpa_kernel`` forces it, and torch
finds no kernel) is ``skipped`` with torch's own reason: its "No available
kernel" / "No viable backend" error and the warnings in which it says why each
backend was not chosen.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from detaudit.probes import skip
from detaudit.probes._common import ProbeOutput, output_and_grads

#: The phrases of torch's errors when a forced SDPA backend has no kernel for the inputs.
_NO_KERNEL = ("No available kernel", "No viable backend")
_CPU_SHAPE = (2, 4, 128, 64)  # batch, heads, sequence, head dim
_CUDA_SHAPE = (4, 16, 1024, 64)


def _inputs(device: torch.device, mask: bool) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Query, key, value and (``mask``) an additive float mask, sized and typed for ``device``."""
    shape = _CUDA_SHAPE if device.type == "cuda" else _CPU_SHAPE
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    q, k, v = (torch.randn(shape, device=device, dtype=dtype) for _ in range(3))
    batch, _, seq, _ = shape
    bias = torch.randn(batch, 1, seq, seq, device=device, dtype=dtype) if mask else None
    return q, k, v, bias


def _describe(q: Tensor, mask: bool) -> str:
    dtype = str(q.dtype).rpartition(".")[2]
    variant = "an additive attn_mask" if mask else "is_causal=True"
    return f"{dtype} {tuple(q.shape)} inputs with {variant} on {q.device.type}"


def _reemit(caught: list[warnings.WarningMessage]) -> None:
    """Warn again what the probe caught, so the runner still sees every alert."""
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _sdpa(device: torch.device, backend: str, *, mask: bool, backward: bool) -> ProbeOutput:
    """SDPA forced to ``SDPBackend.<backend>``: its output, or the q/k/v gradients."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        skip("torch.nn.attention.sdpa_kernel is not in this torch (added in torch 2.3)")
    member = getattr(SDPBackend, backend, None)
    if member is None:
        skip(f"SDPBackend.{backend} is not in this torch")
    q, k, v, bias = _inputs(device, mask)

    def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, is_causal=not mask
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with sdpa_kernel(member):
                result: ProbeOutput = (
                    output_and_grads(attention, q, k, v)[1] if backward else attention(q, k, v)
                )
        except RuntimeError as exc:
            if not any(phrase in str(exc) for phrase in _NO_KERNEL):
                _reemit(caught)
                raise
            why = " ".join(str(exc).split())
            reasons = [" ".join(str(w.message).split()) for w in caught]
            said = "; ".join([why, *dict.fromkeys(reasons)])
            skip(f"SDPBackend.{backend} cannot run {_describe(q, mask)}; torch: {said}")
    _reemit(caught)
    return result


def sdpa_math_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, math backend, causal."""
    return _sdpa(device, "MATH", mask=False, backward=False)


def sdpa_math_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, math backend, causal."""
    return _sdpa(device, "MATH", mask=False, backward=True)


def sdpa_flash_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, flash backend (the flash-style CPU kernel on CPU), causal."""
    return _sdpa(device, "FLASH_ATTENTION", mask=False, backward=False)


def sdpa_flash_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, flash backend (the flash-style CPU kernel on CPU), causal."""
    return _sdpa(device, "FLASH_ATTENTION", mask=False, backward=True)


def sdpa_flash_mask_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, flash backend, additive attn_mask."""
    return _sdpa(device, "FLASH_ATTENTION", mask=True, backward=False)


def sdpa_flash_mask_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, flash backend, additive attn_mask."""
    return _sdpa(device, "FLASH_ATTENTION", mask=True, backward=True)


def sdpa_efficient_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, memory-efficient backend, causal."""
    return _sdpa(device, "EFFICIENT_ATTENTION", mask=False, backward=False)


def sdpa_efficient_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, memory-efficient backend, causal."""
    return _sdpa(device, "EFFICIENT_ATTENTION", mask=False, backward=True)


def sdpa_efficient_mask_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, memory-efficient backend, additive attn_mask."""
    return _sdpa(device, "EFFICIENT_ATTENTION", mask=True, backward=False)


def sdpa_efficient_mask_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, memory-efficient backend, additive attn_mask."""
    return _sdpa(device, "EFFICIENT_ATTENTION", mask=True, backward=True)


def sdpa_cudnn_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, cuDNN backend, causal."""
    return _sdpa(device, "CUDNN_ATTENTION", mask=False, backward=False)


def sdpa_cudnn_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, cuDNN backend, causal."""
    return _sdpa(device, "CUDNN_ATTENTION", mask=False, backward=True)


def sdpa_cudnn_mask_forward(device: torch.device) -> ProbeOutput:
    """SDPA output, cuDNN backend, additive attn_mask."""
    return _sdpa(device, "CUDNN_ATTENTION", mask=True, backward=False)


def sdpa_cudnn_mask_backward(device: torch.device) -> ProbeOutput:
    """SDPA q/k/v gradients, cuDNN backend, additive attn_mask."""
    return _sdpa(device, "CUDNN_ATTENTION", mask=True, backward=True)


# ---------------------------------------------------------------------------- flex_attention


def _causal(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
    return torch.where(q_idx >= kv_idx, score, -float("inf"))


_COMPILED: dict[str, Callable[..., Any]] = {}


def _flex_function(compiled: bool) -> Callable[..., Any]:
    try:
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError:
        skip("torch.nn.attention.flex_attention is not in this torch (added in torch 2.5)")
    if not compiled:
        return flex_attention
    if "flex" not in _COMPILED:  # one compiled function per worker: its graphs are reused
        _COMPILED["flex"] = torch.compile(flex_attention)
    return _COMPILED["flex"]


def _flex(device: torch.device, *, backward: bool, compiled: bool) -> ProbeOutput:
    """flex_attention with a causal score_mod, eager or compiled: output, or q/k/v gradients.

    The compiled entries carry ``compiles: true``: the plan runs them only in an
    ``audit --compile`` (Inductor's C++ build of the flex template took 44 s, then
    17 s for the other mode, on the 2-core machine this was written on).
    """
    flex = _flex_function(compiled)
    q, k, v, _ = _inputs(device, mask=False)

    def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return flex(q, k, v, score_mod=_causal)

    mode = _inductor_mode() if compiled else contextlib.nullcontext()
    try:
        with mode, warnings.catch_warnings():
            # eager flex_attention says it is unfused; that is the point of the eager entries
            warnings.filterwarnings("ignore", message=r"(?s)flex_attention called without")
            return output_and_grads(attention, q, k, v)[1] if backward else attention(q, k, v)
    except NotImplementedError as exc:
        how = "compiled" if compiled else "eager"
        said = " ".join(str(exc).split())
        skip(f"flex_attention ({how}) cannot run {_flex_describe(q)}; torch: {said}")


def _flex_describe(q: Tensor) -> str:
    dtype = str(q.dtype).rpartition(".")[2]
    return f"{dtype} {tuple(q.shape)} inputs with a causal score_mod on {q.device.type}"


def _inductor_mode() -> Any:
    """Inductor's ``deterministic`` flag set as the runner set the eager one, restored after.

    ``torch.use_deterministic_algorithms`` sets both; the runner sets only the
    eager flag (see :mod:`detaudit.torchstate`), so compiled probes mirror it.
    """
    import torch._inductor.config as inductor_config

    if not hasattr(inductor_config, "deterministic"):
        return contextlib.nullcontext()
    return inductor_config.patch(deterministic=torch.are_deterministic_algorithms_enabled())


def flex_attention_forward(device: torch.device) -> ProbeOutput:
    """flex_attention output, eager (unfused), causal score_mod."""
    return _flex(device, backward=False, compiled=False)


def flex_attention_backward(device: torch.device) -> ProbeOutput:
    """flex_attention q/k/v gradients, eager (unfused), causal score_mod."""
    return _flex(device, backward=True, compiled=False)


def flex_attention_compiled_forward(device: torch.device) -> ProbeOutput:
    """flex_attention output, compiled with torch.compile (Inductor), causal score_mod."""
    return _flex(device, backward=False, compiled=True)


def flex_attention_compiled_backward(device: torch.device) -> ProbeOutput:
    """flex_attention q/k/v gradients, compiled with torch.compile (Inductor), causal score_mod."""
    return _flex(device, backward=True, compiled=True)
