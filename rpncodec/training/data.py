"""Training data: images decoded once, kept in memory as uint8, served as random crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def split_holdout(files: list[Path], every: int = 50) -> tuple[list[Path], list[Path]]:
    """Deterministic split: every ``every``-th file is held out for validation."""
    return ([f for i, f in enumerate(files) if i % every],
            [f for i, f in enumerate(files) if not i % every])


class CropDataset:
    """Random crops with horizontal/vertical flips from images held in memory as uint8."""

    def __init__(self, files: list[Path], crop: int) -> None:
        if not files:
            raise ValueError("no training images found")
        self.crop = crop
        self.images = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)
                       .contiguous() for f in files]
        self.images = [im for im in self.images if min(im.shape[1:]) >= crop]
        if not self.images:
            raise ValueError(f"no training image is at least {crop}x{crop}")

    def batch(self, size: int, gen: torch.Generator) -> Tensor:
        """A float batch ``[size, 3, crop, crop]`` in [0, 1]."""
        idx = torch.randint(len(self.images), (size,), generator=gen)
        out = torch.empty(size, 3, self.crop, self.crop, dtype=torch.uint8)
        for b, i in enumerate(idx.tolist()):
            im = self.images[i]
            top = int(torch.randint(im.shape[1] - self.crop + 1, (1,), generator=gen))
            left = int(torch.randint(im.shape[2] - self.crop + 1, (1,), generator=gen))
            patch = im[:, top:top + self.crop, left:left + self.crop]
            flips = torch.randint(2, (2,), generator=gen).tolist()
            if flips[0]:
                patch = patch.flip(2)
            if flips[1]:
                patch = patch.flip(1)
            out[b] = patch
        return out.float().div_(255)


def center_crops(files: list[Path], size: int, multiple: int = 16) -> Tensor:
    """Fixed validation batch: the central ``size`` x ``size`` crop of each image (smaller
    where an image is, rounded down to a multiple of ``multiple``, the model's padding)."""
    crops = []
    for f in files:
        im = np.asarray(Image.open(f).convert("RGB"))
        h, w = im.shape[:2]
        s = min(size, h, w) // multiple * multiple
        top, left = (h - s) // 2, (w - s) // 2
        crops.append(torch.from_numpy(im[top:top + s, left:left + s].copy()).permute(2, 0, 1))
    s = min(c.shape[1] for c in crops)
    return torch.stack([c[:, :s, :s] for c in crops]).float().div_(255)
