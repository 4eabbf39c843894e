"""Two runs differ from step 3 of 5: a value read at step 3 comes from outside torch (the clock)."""

import time

import torch

import detaudit

detaudit.seed_everything(0)
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(8, 4)
for step in range(1, 6):
    scale = time.perf_counter_ns() % 1000 if step == 3 else 1.0  # a Python value, not seeded
    loss = model(x * scale).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"loss {loss.item():.4f}")
