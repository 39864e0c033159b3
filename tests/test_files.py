"""The one atomic write and the one to_jsonable that every writer uses."""

import json
import math
import os

import numpy as np
import pytest

from gan_jax.base import files
from gan_jax.runtime import images, writers


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
  path = str(tmp_path / 'a.json')
  files.write_text(path, 'old\n')

  def half_then_fail(tmp):
    with open(tmp, 'w') as f:
      f.write('ne')
    raise OSError(28, 'No space left on device')

  with pytest.raises(OSError):
    files.atomic_write(path, half_then_fail)
  assert open(path).read() == 'old\n' and os.listdir(tmp_path) == ['a.json']


def test_the_temporary_keeps_the_extension_and_writers_share_it(tmp_path):
  seen = []
  files.atomic_write(str(tmp_path / 'grid.png'), lambda tmp: seen.append(tmp) or open(tmp, 'w'))
  assert seen == [f'{tmp_path}/grid.png.{os.getpid()}.tmp.png']
  # One atomic write (gan_jax.base.files): the writers keep no copy of it under other names.
  assert not hasattr(writers, 'write_text') and not hasattr(writers, 'write_json')
  images.save_npy(str(tmp_path / 'x'), np.arange(3, dtype=np.int32))  # no '.npy' appended
  assert sorted(os.listdir(tmp_path)) == ['grid.png', 'x']
  np.testing.assert_array_equal(np.load(tmp_path / 'x'), [0, 1, 2])


def test_to_jsonable():
  value = {
    'a': np.float32(0.5),
    'b': [np.int64(3), float('nan'), (np.float64(-math.inf),)],
    'c': 'x',
    'd': None,
    'e': True,
  }
  assert files.to_jsonable(value) == {
    'a': 0.5,
    'b': [3, 'nan', ['-inf']],
    'c': 'x',
    'd': None,
    'e': True,
  }
  assert type(files.to_jsonable(np.int64(3))) is int
  assert json.loads(json.dumps(files.to_jsonable(value)))['b'][1] == 'nan'
