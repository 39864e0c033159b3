"""Sample grids as PNG files (pixels in [0, 1], rows of examples)."""

import math

import numpy as np
from PIL import Image

from gan_jax.base import files


def make_grid(images: np.ndarray, *, columns: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles images [N, H, W, C] in [0, 1] into one uint8 image [rows*(H+pad)+pad, ..., C].

  The grid is square by default; missing cells stay black.
  """
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad, c), np.float32)
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top : top + h, left : left + w] = image
  return np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_png(path: str, grid: np.ndarray) -> None:
  """Writes a uint8 [H, W, C] grid to `path` atomically (a reader never sees half a file)."""
  if grid.shape[-1] == 1:
    grid = grid[..., 0]
  files.atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format='PNG'))


def save_grid(path: str, images: np.ndarray, *, columns: int | None = None) -> None:
  save_png(path, make_grid(images, columns=columns))


def save_npy(path: str, array: np.ndarray) -> None:
  """np.save, atomically, without pickle (allow_pickle=False)."""
  array = np.asarray(array)

  def write(tmp):
    with open(tmp, 'wb') as f:  # a file object: np.save appends no '.npy' to the name
      np.save(f, array, allow_pickle=False)

  files.atomic_write(path, write)
