"""Two runs differ on a GPU: dropout draws from the CUDA generator, which nothing seeds."""

import torch

with torch.random.fork_rng(device_type="cuda"):  # the weights are seeded; the CUDA generator is not
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)
    ).cuda()
x = torch.linspace(0, 1, 32, device="cuda").reshape(4, 8)
loss = model(x).pow(2).mean()
loss.backward()
print(f"loss {loss.item():.4f}")
