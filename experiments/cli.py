"""What every entry point shares: flag parsing and errors as one line with exit code 2."""

import errno
import sys
import traceback

from absl import app
from absl import flags
from absl import logging

from gan_jax.errors import USAGE_EXIT_CODE, Interrupted, UserError

flags.DEFINE_bool('verbose', False, 'Show the full traceback of an error.')
FLAGS = flags.FLAGS
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT)


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(USAGE_EXIT_CODE)


def _parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:  # unknown flag, bad value, missing flagfile, missing required flag
    fail(' '.join(str(e).split()))


def no_positional_args(argv) -> None:
  if len(argv) > 1:
    fail(f'unexpected arguments {argv[1:]}; every option is a --flag (see --helpfull)')


class _DropClosedLoopTracebacks:
  """A stderr that drops tracebacks ending in `RuntimeError: Event loop is closed`.

  After a failed asynchronous checkpoint write (a full disk), tensorstore's pending callbacks
  report into orbax's already closed event loop and print one such traceback each: noise once
  the failure itself is reported as one line. Everything else passes through, line by line.
  """

  def __init__(self, stream):
    self._stream = stream
    self._partial = ''
    self._held: list[str] = []

  def write(self, text: str) -> int:
    self._partial += text
    *lines, self._partial = self._partial.split('\n')
    for line in lines:
      self._line(line + '\n')
    return len(text)

  def _line(self, line: str) -> None:
    if not self._held and not line.startswith('Traceback (most recent call last):'):
      self._stream.write(line)
      return
    self._held.append(line)
    if line[:1] not in (' ', '\t') and not line.startswith('Traceback'):  # the exception line
      if line.strip() != 'RuntimeError: Event loop is closed':
        self._stream.write(''.join(self._held))
      self._held = []

  def flush(self) -> None:
    self._stream.flush()

  def __getattr__(self, name):
    return getattr(self._stream, name)


def run(main) -> None:
  """app.run(main), turning UserError into `error: <one line>` and exit code 2."""

  def wrapped(argv):
    # Orbax and JAX log every checkpoint operation (and, from their threads, the errors we turn
    # into one line); our progress goes to stdout and our warnings through gan_jax.errors.warn.
    logging.set_verbosity(logging.INFO if FLAGS.verbose else logging.FATAL)
    try:
      main(argv)
    except UserError as e:
      if FLAGS.verbose:
        traceback.print_exc()
      fail(' '.join(str(e).split()))
    except OSError as e:  # a full or read-only disk while writing logs, images or samples
      if FLAGS.verbose or e.errno not in _STORAGE_ERRNOS:
        raise
      fail(f'cannot write {e.filename or "a file"} ({e.strerror}); free space or pick a '
           'writable --workdir, then run the same command to resume')
    except Interrupted as e:
      print(str(e), file=sys.stderr)
      sys.exit(e.exit_code)

  if '--verbose' not in sys.argv:
    sys.stderr = _DropClosedLoopTracebacks(sys.stderr)
  app.run(wrapped, flags_parser=_parse_flags)
