"""A tiny attention block for the scanner's attention tests; ``# dynamic:`` marks the hits' lines.

On CPU, torch picks the flash-style CPU kernel for these fp32 inputs; the last
call forces the math backend.
"""

import torch
import torch.nn.functional as F
from torch.nn import functional as nnf
from torch.nn.attention import SDPBackend, sdpa_kernel


def run():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 8, requires_grad=True) for _ in range(3))
    b = torch.zeros(1, 1, 16, 16)  # an additive mask
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # dynamic: sdpa-flash-forward
    m = nnf.scaled_dot_product_attention(q, k, v, attn_mask=b)  # dynamic: sdpa-flash-mask-forward
    with sdpa_kernel(SDPBackend.MATH):
        math = F.scaled_dot_product_attention(q, k, v)  # dynamic: sdpa-math-forward
    (out.sum() + m.sum() + math.sum()).backward()
    return out, m, math
