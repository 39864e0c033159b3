"""Directories gan_jax writes into: claimed only when new, empty or its own; locked for a run.

A directory the project writes into gets a marker file, `.gan_jax`, holding what it is (`run`,
`sweep`, `toy1d`, `eval`, `report`). A non-empty directory without one is never written into,
with or without --overwrite: a mistyped or empty path (`--workdir=$RUN` with $RUN unset) must
not take over, or clear, somebody's files. Directories written before the marker existed are
recognised by what they hold (a run: config.json and checkpoints/).
"""

import contextlib
import errno
import fcntl
import os
import shutil

from gan_jax.base import files
from gan_jax.base.errors import UserError, file_error
from gan_jax.runtime import rundir

MARKER_FILE = '.gan_jax'
LOCK_FILE = '.lock'
RUN, SWEEP, TOY1D, EVAL, REPORT = 'run', 'sweep', 'toy1d', 'eval', 'report'
# Directories written before the marker, recognised by files only gan_jax writes together.
LEGACY = {
  RUN: [rundir.SIGNATURE],
  SWEEP: [('sweep.json', 'base.flags')],
  TOY1D: [('figure1.json',), ('theory.json',), ('modes.json',)],
  EVAL: [('eval.json', 'eval.md')],
  REPORT: [('mnist_curves.png', 'mnist_figure2.png')],  # a results page's figures
}


def kind_of(path: str) -> str | None:
  """What gan_jax wrote `path` as (RUN, SWEEP, ...), or None for anything else."""
  marker = os.path.join(path, MARKER_FILE)
  if os.path.isfile(marker):
    try:
      with open(marker, encoding='utf-8') as f:
        kind = f.read().strip()
    except (OSError, UnicodeDecodeError):
      return None
    return kind if kind in LEGACY else None
  for kind, signatures in LEGACY.items():
    if any(all(os.path.exists(os.path.join(path, name)) for name in names) for names in signatures):
      return kind
  return None


def check(path: str, kinds: tuple[str, ...], flag: str = '--workdir') -> None:
  """Raises UserError unless gan_jax may write into `path` as one of `kinds`.

  Allowed: a path that does not exist yet, an empty directory, or a directory gan_jax wrote as
  one of `kinds`. Refused: an empty path, a file, a non-empty directory gan_jax did not write
  (whatever --overwrite says), a directory of another kind.
  """
  if not path:
    raise UserError(f'{flag} is empty (an unset shell variable?); pass a directory')
  if os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f'{flag}={path} exists and is not a directory; pick another path')
  if not os.path.isdir(path):
    return
  try:
    entries = sorted(set(os.listdir(path)) - {LOCK_FILE})
  except OSError as e:
    raise file_error(e, f'{flag}={path}') from None
  kind = kind_of(path)
  if kind is None and entries:
    shown = ', '.join(entries[:3]) + (', ...' if len(entries) > 3 else '')
    raise UserError(
      f'{flag}={path} is not empty ({shown}) and was not written by gan_jax (no '
      f'{MARKER_FILE} marker); refusing to write there, --overwrite included: '
      'pick a new or empty directory'
    )
  if kind is not None and kind not in kinds:
    raise UserError(
      f'{flag}={path} holds a gan_jax {kind}, not a {kinds[0]}; pick another directory'
    )


def claim(path: str, kinds: tuple[str, ...], flag: str = '--workdir') -> None:
  """check(), then creates `path` and marks it as kinds[0] (which also proves it writable)."""
  check(path, kinds, flag)
  try:
    os.makedirs(path, exist_ok=True)
    if kind_of(path) is None:
      files.write_text(os.path.join(path, MARKER_FILE), kinds[0] + '\n')
  except OSError as e:
    raise file_error(e, f'{flag}={path}') from None


def check_output_file(path: str, flag: str, extensions: tuple[str, ...], overwrite: bool) -> None:
  """A file to write: a known extension, in an existing directory, not a directory itself,
  and new unless `overwrite`."""
  if not path:
    raise UserError(
      f'{flag} is empty (an unset shell variable?); pass a {" or ".join(extensions)} path'
    )
  if os.path.splitext(path)[1].lower() not in extensions:
    raise UserError(f'{flag}={path} must end in {" or ".join(extensions)}')
  if os.path.isdir(path):
    raise UserError(f'{flag}={path} is a directory; pass a file path')
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise UserError(
      f'{flag}={path}: its directory {parent} does not exist (or is a file); '
      'create it first or pick another path'
    )
  if os.path.exists(path) and not overwrite:
    raise UserError(f'{flag}={path} exists; pass --overwrite or another path')


def clear_outputs(workdir: str) -> None:
  """--overwrite: removes a previous run's outputs (only those; call while holding the lock)."""
  if kind_of(workdir) != RUN:  # claim() refuses anything else; never clear an unchecked path
    raise UserError(f'--workdir={workdir} is not a gan_jax run; refusing to clear it')
  for name in rundir.OUTPUTS:
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


@contextlib.contextmanager
def run_directory(workdir: str, *, overwrite: bool = False):
  """Claims `workdir` for a training run and locks it; `overwrite` clears a previous run."""
  claim(workdir, (RUN,))
  with locked(workdir):
    if overwrite:
      clear_outputs(workdir)
    try:
      os.makedirs(rundir.samples_dir(workdir), exist_ok=True)
    except OSError as e:
      raise file_error(e, f'--workdir={workdir}') from None
    yield


@contextlib.contextmanager
def locked(workdir: str):
  """Holds an exclusive lock on workdir for the duration: a second run there fails at once.

  The lock is an flock on workdir/.lock, released by the kernel if the process dies.
  """
  path = os.path.join(workdir, LOCK_FILE)
  try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise file_error(e, f'the lock file {path}') from None
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno in (errno.EAGAIN, errno.EACCES):
        holder = os.pread(fd, 64, 0).decode(errors='replace').strip() or '?'
        raise UserError(
          f'--workdir={workdir} is in use by another run (pid {holder}); wait '
          'for it to finish or pick another --workdir'
        ) from None
      raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    yield
  finally:
    os.close(fd)
