"""What every entry point shares: flag parsing and errors as one line with exit code 2."""

import os
import stat
import sys
import threading
import time
import traceback

from absl import app, flags, logging

from gan_jax.base import log
from gan_jax.base.config import check_path, check_text
from gan_jax.base.errors import USAGE_EXIT_CODE, Interrupted, UserError, file_error
from gan_jax.runtime import distributed

flags.DEFINE_bool('verbose', False, 'Show the full traceback of an error.')
FLAGS = flags.FLAGS
# A flagfile is a few hundred bytes of text; anything far larger is a wrong path (a data file,
# /dev/zero), which absl would read whole into memory.
MAX_FLAGFILE_BYTES = 1 << 20
# After an error line, how long the process waits for library threads (orbax's commit threads)
# before it exits without them: the line is the answer, a hang after it is not.
EXIT_GRACE_SECONDS = 10.0
# String flags that name a path (path_flags): checked once at entry, when given.
_PATH_FLAGS: set[str] = set()


def path_flags(*names: str) -> None:
  """Marks the string flags `names` as paths: a given value must be a usable path (not blank,
  valid UTF-8, no control characters: gan_jax.base.config.check_path), or the entry point
  stops in one line before doing anything. Call it next to the flags' definitions."""
  _PATH_FLAGS.update(names)


def fail(message: str, exit_code: int = USAGE_EXIT_CODE) -> None:
  print(f'error: {log.one_line(message)}', file=sys.stderr)
  sys.exit(exit_code)


def _flagfiles(args) -> list[str]:
  """The paths of the --flagfile directives in `args` (each form absl accepts)."""
  paths = []
  for i, arg in enumerate(args):
    name, eq, value = arg.partition('=')
    if name in ('--flagfile', '-flagfile'):
      if eq:
        paths.append(value)
      elif i + 1 < len(args):
        paths.append(args[i + 1])
  return [os.path.expanduser(p) for p in paths]


def check_flagfiles(args, stack: tuple[str, ...] = ()) -> None:
  """Each flagfile, nested ones included, is a readable, bounded UTF-8 text file.

  absl would read a device or a FIFO forever, a huge file whole, and stop with a traceback on
  bytes that are not text.
  """
  for path in _flagfiles(args):
    where = f'--flagfile={path}' + (f' (named in {stack[-1]})' if stack else '')
    if not path.strip():
      raise UserError(
        f'{where} is empty (an unset shell variable?); pass a flagfile or drop the flag'
      )
    if os.path.realpath(path) in map(os.path.realpath, stack):
      raise UserError(f'{where} includes itself; remove the circular --flagfile line')
    try:
      info = os.stat(path)
    except OSError as e:
      raise file_error(e, where) from None
    if stat.S_ISDIR(info.st_mode):
      raise UserError(
        f'{where} is a directory; pass a flagfile (e.g. experiments/configs/mnist_5k.flags)'
      )
    if not stat.S_ISREG(info.st_mode):
      raise UserError(f'{where} is not a regular file (a device or a pipe); pass a flagfile')
    if info.st_size > MAX_FLAGFILE_BYTES:
      raise UserError(
        f'{where} is {info.st_size} bytes, not a flagfile (at most '
        f'{MAX_FLAGFILE_BYTES}); check the path'
      )
    try:
      with open(path, 'rb') as f:
        text = f.read().decode('utf-8')
    except UnicodeDecodeError as e:
      raise UserError(
        f'{where} is not UTF-8 text (byte {e.start}); pass a flagfile, one --flag=value per line'
      ) from None
    except OSError as e:
      raise file_error(e, where) from None
    if '\0' in text:
      raise UserError(
        f'{where} holds NUL bytes, not text; pass a flagfile, one --flag=value per line'
      )
    check_flagfiles([line.strip() for line in text.splitlines()], (*stack, path))


def _check_values() -> None:
  """Every value given: paths usable (path_flags), no control characters. (Numbers are checked
  where they are defined: every float flag is a config field, and a config checks its fields
  at construction.)"""
  for name in FLAGS:
    flag = FLAGS[name]
    value = flag.value
    if not flag.present:
      continue
    try:
      if isinstance(value, str) and name in _PATH_FLAGS:
        check_path(f'--{name}', value)
      for text in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
        if isinstance(text, str):
          check_text(f'--{name}', text)
    except UserError as e:
      fail(str(e))


def parse_flags(argv):
  """Parses argv into FLAGS; a bad flag, flagfile or value is one line and exit code 2."""
  try:
    check_flagfiles(argv[1:])
  except UserError as e:
    fail(str(e))
  try:
    remaining = FLAGS(argv)
  except flags.Error as e:  # unknown flag, bad value, missing flagfile, missing required flag
    fail(str(e))
  _check_values()
  return remaining


def no_positional_args(argv) -> None:
  if len(argv) > 1:
    fail(f'unexpected arguments {argv[1:]}; every option is a --flag (see --helpfull)')


def wrap(main):
  """main(argv), with every error a user can cause turned into one line and an exit code:

  UserError and file-system errors (a missing parent directory, a file where a directory is
  expected, a full disk, ...) exit 2; Interrupted and a signal before training exit 128 + the
  signal. --verbose adds the traceback.
  """

  def wrapped(argv):
    # Orbax and JAX log every checkpoint operation (and, from their threads, the errors we turn
    # into one line); our progress and warnings go through gan_jax.base.log instead.
    logging.set_verbosity(logging.INFO if FLAGS.verbose else logging.FATAL)
    log.set_verbose(FLAGS.verbose)
    try:
      main(argv)
    except UserError as e:
      if FLAGS.verbose:
        traceback.print_exc()
      fail(str(e))
    except OSError as e:  # writing logs, images or samples: a full disk, a path in the way
      if FLAGS.verbose:
        traceback.print_exc()
      fail(str(file_error(e)))
    except Interrupted as e:
      print(str(e), file=sys.stderr)
      sys.exit(e.exit_code)
    except KeyboardInterrupt:  # Ctrl-C before training installed its own handler
      fail(
        'stopped by SIGINT before training started; nothing was written, run the same '
        'command again',
        130,
      )

  return wrapped


def exit_despite_threads(code: int, grace: float = EXIT_GRACE_SECONDS) -> None:
  """Exits with `code` once the other non-daemon threads end, or after `grace` seconds anyway.

  Python waits for every non-daemon thread before it exits; a library thread stuck on a failed
  write (orbax waits 300 s for a signal a failed save never sends) would hold the process, and
  its workdir lock, long after the error line was printed.
  """
  deadline = time.monotonic() + grace
  others = [
    t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon
  ]
  for thread in others:
    try:
      thread.join(max(0.0, deadline - time.monotonic()))
    except Exception:  # orbax's threads re-raise their own failure from join: reported
      pass
  if any(t.is_alive() for t in others):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(main) -> None:
  """app.run(main) through parse_flags and wrap: every user error is one line, and the process
  then exits (exit_despite_threads)."""
  if '--verbose' not in sys.argv:
    log.catch_background_errors()
  try:
    app.run(wrap(main), flags_parser=parse_flags)
  except SystemExit as e:
    if e.code not in (0, None):
      exit_despite_threads(e.code if isinstance(e.code, int) else 1)
    raise


def define_distributed_flags(flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines the flags that start the distributed runtime (gan_jax.runtime.distributed).
  Idempotent."""
  if 'distributed' in flag_values:
    return
  flags.DEFINE_enum(
    'distributed',
    'auto',
    distributed.MODES,
    'auto: the three flags below '
    "when given, else the scheduler's environment as JAX detects it (SLURM, "
    'Open MPI, Cloud TPU), else one process; off: one process.',
    flag_values=flag_values,
  )
  flags.DEFINE_string(
    'coordinator_address',
    None,
    'host:port of process 0, reachable from '
    'every process (multi-host training without a detected scheduler).',
    flag_values=flag_values,
  )
  flags.DEFINE_integer(
    'num_processes', None, 'Number of processes (usually one per host).', flag_values=flag_values
  )
  flags.DEFINE_integer(
    'process_id', None, "This process's index in [0, --num_processes).", flag_values=flag_values
  )


def initialize_distributed(flag_values: flags.FlagValues = FLAGS) -> None:
  """Starts the distributed runtime as the flags say; call it before anything touches a device."""
  distributed.initialize(
    flag_values.distributed,
    coordinator_address=flag_values.coordinator_address,
    num_processes=flag_values.num_processes,
    process_id=flag_values.process_id,
  )
