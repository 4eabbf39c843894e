"""Two runs differ: DataLoader(shuffle=True) without a generator draws a new order each run."""

import torch
from torch.utils.data import DataLoader, TensorDataset

import detaudit

detaudit.seed_everything(0)  # seeds torch, numpy and random at start...
torch.seed()  # ...then something reseeds the global generator from the OS (a library, a helper)
data = TensorDataset(torch.arange(64.0).reshape(32, 2), torch.arange(32.0))
loader = DataLoader(data, batch_size=8, shuffle=True)  # no generator=: the order is unseeded
weight = torch.ones(2, requires_grad=True)
for x, y in loader:
    loss = (x @ weight - y).pow(2).mean()
    loss.backward()
    break
print(f"loss {loss.item():.4f}")
