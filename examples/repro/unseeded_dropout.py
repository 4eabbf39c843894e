"""Two runs differ: nn.Dropout draws from the global generator, which nothing seeds."""

import torch

with torch.random.fork_rng():  # the weights are seeded; the global generator is left unseeded
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)
    )
x = torch.linspace(0, 1, 32).reshape(4, 8)
loss = model(x).pow(2).mean()
loss.backward()
print(f"loss {loss.item():.4f}")
