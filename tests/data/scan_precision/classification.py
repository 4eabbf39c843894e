# Written for detaudit's tests; never run (the static scan only reads it).
"""Classification heads and their losses: 2-D logits, which run the 2-D NLL kernel (no alert)."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import CrossEntropyLoss


class Classifier(nn.Module):
    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.head = nn.Linear(768, num_labels)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.head(features)
        return self.criterion(logits, labels)


def train_step(model, images, targets):
    logits = model(images)
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    return loss


def sequence_loss(logits, labels, num_labels):
    loss_fct = CrossEntropyLoss()
    return loss_fct(logits.view(-1, num_labels), labels.view(-1))


def token_loss(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def nll_head(x, y):
    return F.nll_loss(F.log_softmax(x, dim=-1), y)
