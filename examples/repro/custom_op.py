"""Two runs differ: a custom op whose kernel is nondeterministic ON PURPOSE (a test fixture).

``detaudit_fixture::shuffled_sum`` adds the rows of a tensor in an order drawn from the
operating system, as a GPU kernel with atomic adds does in whatever order its threads
finish: float addition is not associative, so the low bits change from run to run. No
alert exists for it: deterministic mode cannot catch it.
"""

import random

import torch

import detaudit


@torch.library.custom_op("detaudit_fixture::shuffled_sum", mutates_args=())
def shuffled_sum(x: torch.Tensor) -> torch.Tensor:
    order = list(range(x.shape[0]))
    random.SystemRandom().shuffle(order)  # the OS's entropy: no seed reaches it
    total = torch.zeros_like(x[0])
    for i in order:
        total = total + x[i]
    return total


detaudit.seed_everything(0)
x = torch.randn(64, 16) * torch.logspace(-4, 4, 64).unsqueeze(1)
y = shuffled_sum(x)
print(f"sum {y.sum().item():.10f}")
