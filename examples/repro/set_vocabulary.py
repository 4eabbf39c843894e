"""Two runs differ: the vocabulary comes from set(), whose order follows PYTHONHASHSEED."""

import torch

torch.manual_seed(0)
words = ["the", "cat", "sat", "on", "the", "mat", "and", "the", "dog", "sat", "on", "the", "log"]
vocabulary = list(set(words))  # the order of a set of str changes with PYTHONHASHSEED
index = {word: i for i, word in enumerate(vocabulary)}
tokens = torch.tensor([index[w] for w in words])
embedding = torch.nn.Embedding(len(vocabulary), 4)
loss = embedding(tokens).sum(dim=1).pow(2).mean()
loss.backward()
print(f"loss {loss.item():.4f}")
