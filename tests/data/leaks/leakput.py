"""put_ (accumulate=False), after checking that no earlier probe's state reached this one."""

import torch
from leakhelpers import put


def _state() -> dict:
    tiny = torch.ones(1, dtype=torch.int32).view(torch.float32)
    return {
        "flush_denormal": bool((tiny * 1.0).item() == 0.0),
        "mkldnn.enabled": torch.backends.mkldnn.enabled,
        "flash_sdp": torch.backends.cuda.flash_sdp_enabled(),
        "nnpack": torch._C._get_nnpack_enabled(),
        "mkldnn.conv.fp32_precision": torch.backends.mkldnn.conv.fp32_precision,
    }


EXPECTED = {
    "flush_denormal": False,
    "mkldnn.enabled": True,
    "flash_sdp": True,
    "nnpack": True,
    "mkldnn.conv.fp32_precision": "none",
}


def put_checked(device: torch.device) -> torch.Tensor:
    leaked = {k: v for k, v in _state().items() if v != EXPECTED[k]}
    if leaked:
        raise AssertionError(f"leaked from an earlier probe: {leaked}")
    index = torch.randint(0, 64, (512,), device=device)
    return put(torch.zeros(64, device=device), index, torch.randn(512, device=device))
