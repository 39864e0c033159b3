"""Samples from any framework, read from .npy and checked before anything is measured."""

import math
import os

import numpy as np

from gan_jax.base.errors import UserError
from gan_jax.runtime import resources

# Pixels a hair outside [0, 1] (a framework's float round-off after a sigmoid or rescale) are
# clipped; anything further out is a different convention and an error.
RANGE_TOLERANCE = 1e-5
MIN_SAMPLES = 10


def check_samples(
  array: np.ndarray, image_shape: tuple[int, int, int], *, name: str = 'samples'
) -> np.ndarray:
  """Validates generated images and returns them as float32 [N, H*W*C] in [0, 1].

  Accepted: float [N, H, W, C], [N, H*W*C], or [N, H, W] when C = 1.

  Raises:
    UserError: one line naming the problem (dtype, shape, range, non-finite values) and the fix.
  """
  h, w, c = image_shape
  dim = h * w * c
  if not np.issubdtype(array.dtype, np.floating):
    raise UserError(
      f'{name} have dtype {array.dtype}; expected float pixels in [0, 1] (divide '
      'uint8 images by 255)'
    )
  shape = tuple(array.shape)
  allowed = [(dim,), (h, w, c)] + ([(h, w)] if c == 1 else [])
  if len(shape) < 2 or shape[1:] not in allowed:
    raise UserError(
      f'{name} have shape {shape}; expected [N, {h}, {w}, {c}] or [N, {dim}] for this data set'
    )
  if shape[0] < MIN_SAMPLES:
    raise UserError(
      f'{name} hold {shape[0]} images; the metrics need at least {MIN_SAMPLES} '
      '(the paper uses 10,000)'
    )
  flat = array.reshape(shape[0], -1).astype(np.float32)
  finite = np.isfinite(flat)
  if not finite.all():
    raise UserError(
      f'{name} contain {int((~finite).sum())} NaN/inf values (first in image '
      f'{int(np.argwhere(~finite)[0][0])})'
    )
  low, high = float(flat.min()), float(flat.max())
  if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
    hint = (
      ' (rescale [-1, 1] images with (x + 1) / 2)'
      if low < 0 and low >= -1 - 1e-3
      else ' (divide [0, 255] images by 255)'
      if high > 1 and high <= 255
      else ''
    )
    raise UserError(f'{name} have values in [{low:g}, {high:g}]; expected pixels in [0, 1]{hint}')
  return np.clip(flat, 0.0, 1.0)


def check_npy_size(path: str) -> None:
  """A .npy whose header claims more bytes than the file holds (or the host has) is refused
  before numpy allocates them."""
  try:
    with open(path, 'rb') as f:
      version = np.lib.format.read_magic(f)
      read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
      )
      shape, _, dtype = read_header(f)
      offset = f.tell()
  except (OSError, ValueError, EOFError):
    return  # not a .npy (or an .npz): np.load says what it is
  if dtype.hasobject:
    return  # refused by np.load's allow_pickle=False
  claimed = math.prod(shape) * dtype.itemsize
  held = os.path.getsize(path) - offset
  if claimed > held:
    raise UserError(
      f'--samples={path} claims shape {tuple(shape)} of {dtype} ({claimed:,} bytes) '
      f'but holds {held:,}; the file is truncated or its header is wrong, write it '
      'again with numpy.save'
    )
  # The file as read, then the evaluation's own copies of it.
  resources.check(
    f'--samples={path} (shape {tuple(shape)})',
    claimed + resources.EVALUATION_COPIES * 4 * math.prod(shape),
    'pass fewer samples',
  )


def load_samples(path: str, image_shape: tuple[int, int, int]) -> np.ndarray:
  """Reads a .npy of generated images (never unpickling) and checks it (see check_samples)."""
  try:
    if os.path.isfile(path):
      check_npy_size(path)
    array = np.load(path, allow_pickle=False)
  except FileNotFoundError:
    raise UserError(f'--samples={path} does not exist') from None
  except IsADirectoryError:
    raise UserError(f'--samples={path} is a directory; pass a .npy file') from None
  except (OSError, ValueError, EOFError) as e:
    message = ' '.join(str(e).split())[:200]
    raise UserError(
      f'--samples={path} is not a readable .npy array ({message}); write it with '
      'numpy.save(path, float32_array)'
    ) from None
  if not isinstance(array, np.ndarray):  # an .npz archive
    array.close()
    raise UserError(f'--samples={path} is an .npz archive; pass one array saved with numpy.save')
  return check_samples(array, image_shape, name=f'--samples={path}')
