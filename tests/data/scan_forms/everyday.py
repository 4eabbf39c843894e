"""Everyday Python that shares names with tensor methods: the static scan finds nothing here."""

import queue

from PIL import Image

from . import functional as F
from .transforms import pad


class Streamer:
    def put(self, value):
        self.queue.put(value)

    def resize(self, size):
        return self.resize(size)


q = queue.Queue()
q.put(1)
img = Image.open("a.png")
img = img.resize((2, 2))
img.put(3)
small = F.resize(img, 2)
F.put_(img, 1)
pad(img, 1, mode="reflect")
