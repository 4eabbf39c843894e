# ruff: noqa: F821  (never run: names stand for tensors)
"""Functional and class forms of catalogued ops: each call names its entries in a marker.

``# static: ID[,ID...]`` lists the entries the one finding on that line names, first the
one that speaks for it. Never run: the static scan only reads it.
"""

import torch
import torch.nn.functional as F
from torch import nn

x = torch.randn(2, 3, 8, 8)
a = F.adaptive_avg_pool2d(x, 3)  # static: adaptive-avg-pool2d-backward
b = F.max_pool3d(x, 2)  # static: max-pool3d-backward
c = F.pad(x, (1, 1), mode="reflect")  # static: reflection-pad1d-backward,reflection-pad2d-backward,reflection-pad3d-backward
d = F.pad(x, (1, 1), "replicate")  # static: replication-pad1d-backward,replication-pad2d-backward,replication-pad3d-backward
e = F.pad(x, (1, 1))
up = nn.Upsample(scale_factor=2, mode="bilinear")  # static: interpolate-bilinear-backward
near = nn.Upsample(scale_factor=2)
emb = F.embedding(torch.tensor([1]), torch.randn(4, 2))  # static: embedding-backward
bag = F.embedding_bag(i, w, o, mode="max")  # static: embedding-bag-max-backward
bag_mean = F.embedding_bag(i, w, o)
ctc = F.ctc_loss(lp, tg, il, tl)  # static: ctc-loss-backward
nll = F.nll_loss(x, t)  # static: nll-loss
ce = F.cross_entropy(x, t)  # static: nll-loss
ce_class = nn.CrossEntropyLoss()  # static: nll-loss
pool = nn.AdaptiveAvgPool2d(1)  # static: adaptive-avg-pool2d-backward
g = torch.gather(x, 1, idx)  # static: gather-1d-backward,gather-nd-backward
t = torch.zeros(16)
t.put(idx, v)  # static: put-accumulate-false
torch.zeros(4).resize(2)  # static: resize-quantized,resize-fill
ce_class(x, t)  # the module is called on the 4-D x: its construction above is a finding
