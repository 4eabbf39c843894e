"""Two runs differ: compiled index_add (deterministic mode off) adds in parallel, in any order."""

import torch

import detaudit

detaudit.seed_everything(0)
torch.use_deterministic_algorithms(False)  # the mode off: Inductor may use atomic adds


@torch.compile
def accumulate(x, index, source):
    return x.index_add(0, index, source)


x = torch.zeros(8)
index = torch.randint(0, 8, (200_000,))
source = torch.randn(200_000)
total = accumulate(x, index, source)
result = total * 2
print(f"sum {result.sum().item():.10f}")
