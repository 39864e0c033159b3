"""A run's working directory: created, optionally cleared, and locked against a second run."""

import contextlib
import errno
import fcntl
import os
import shutil

from gan_jax.errors import UserError

LOCK_FILE = '.lock'
# What a run writes; --overwrite removes exactly these and nothing else the user keeps there.
RUN_OUTPUTS = ('checkpoints', 'corrupt_checkpoints', 'tensorboard', 'samples', 'metrics.jsonl',
               'config.json')


def create(workdir: str) -> None:
  """Creates `workdir` (and its samples/), or says in one line why it cannot."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f'--workdir={workdir} exists and is not a directory; pick another path')
  try:
    os.makedirs(os.path.join(workdir, 'samples'), exist_ok=True)
  except OSError as e:
    raise UserError(f'cannot create --workdir={workdir} ({e.strerror}); pick a writable '
                    'path') from None
  probe = os.path.join(workdir, f'.write_test.{os.getpid()}')
  try:
    with open(probe, 'w'):
      pass
    os.remove(probe)
  except OSError as e:
    raise UserError(f'--workdir={workdir} is not writable ({e.strerror}); pick a writable '
                    'path') from None


def clear_outputs(workdir: str) -> None:
  """--overwrite: removes a previous run's outputs (only those; call while holding the lock)."""
  for name in RUN_OUTPUTS:
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)
  os.makedirs(os.path.join(workdir, 'samples'), exist_ok=True)


@contextlib.contextmanager
def locked(workdir: str):
  """Holds an exclusive lock on workdir for the duration: a second run there fails at once.

  The lock is an flock on workdir/.lock, released by the kernel if the process dies.
  """
  path = os.path.join(workdir, LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno in (errno.EAGAIN, errno.EACCES):
        holder = os.pread(fd, 64, 0).decode(errors='replace').strip() or '?'
        raise UserError(f'--workdir={workdir} is in use by another run (pid {holder}); wait '
                        'for it to finish or pick another --workdir') from None
      raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    yield
  finally:
    os.close(fd)
