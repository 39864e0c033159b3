"""Files written whole or not at all, and JSON of numpy values: one copy of each, for every writer.

Light on purpose (numpy, no JAX): workdir markers are written before JAX is imported.
"""

import contextlib
import json
import math
import os
from typing import Any, Callable

import numpy as np


@contextlib.contextmanager
def naming(path: str):
  """An OSError raised inside without a file name (a full disk fails a write or a close, which
  knows no name) gets `path`, so that its one-line message can say which file."""
  try:
    yield
  except OSError as e:
    if e.filename is None:
      raise OSError(e.errno, e.strerror, path) from e
    raise


def atomic_write(path: str, write: Callable[[str], Any]) -> None:
  """Calls `write(tmp)` on a temporary path next to `path`, then renames it over `path`.

  A reader, or a kill, never sees half a file: `path` is the old file or the new one. The
  temporary name carries the pid (two processes never share one) and ends in `path`'s extension
  (matplotlib and PIL choose the format from it). A failed write removes its temporary file.

  Args:
    path: the file to write.
    write: writes the whole content into the path it is given.
  """
  tmp = f'{path}.{os.getpid()}.tmp{os.path.splitext(path)[1]}'
  try:
    with naming(path):
      write(tmp)
      os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_text(path: str, text: str) -> None:
  """Writes `text` to `path` atomically."""

  def write(tmp):
    with open(tmp, 'w') as f:
      f.write(text)

  atomic_write(path, write)


def write_json(path: str, value, *, indent: int | None = 2) -> None:
  """`value` as JSON text and a newline, atomically."""
  write_text(path, json.dumps(value, indent=indent) + '\n')


def to_jsonable(value):
  """`value` with numpy scalars as Python numbers and NaN/inf as strings (JSON has neither)."""
  if isinstance(value, dict):
    return {k: to_jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_jsonable(v) for v in value]
  if isinstance(value, (np.floating, np.integer)):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value
