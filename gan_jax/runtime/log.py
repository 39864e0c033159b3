"""Where messages go, one place for all: progress on stdout, warnings on stderr.

Progress lines (`[HH:MM:SS] ...`) come from the primary process only. Warnings (something was
wrong and was handled) are `warning: ...` lines through the `gan_jax` logger, whatever the
verbosity of absl's logging, which entry points turn down to keep library chatter (orbax, JAX)
out of the way. Details (what was read, prepared or joined) are plain lines through the same
logger, shown only when an entry point asks for them (`--verbose`: set_verbose). Errors are not logged: they are raised (gan_jax.runtime.errors) and printed once
by the entry point.
"""

import logging
import sys
import time


class _StderrHandler(logging.StreamHandler):
  """Writes to whatever sys.stderr is at the time (it may be replaced after import)."""

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value):
    del value


class _Formatter(logging.Formatter):
  def format(self, record: logging.LogRecord) -> str:
    text = record.getMessage()
    return f'warning: {text}' if record.levelno >= logging.WARNING else text


_logger = logging.getLogger('gan_jax')
if not _logger.handlers:
  _handler = _StderrHandler()
  _handler.setFormatter(_Formatter())
  _logger.addHandler(_handler)
  _logger.setLevel(logging.WARNING)
  _logger.propagate = False


def info(message: str) -> None:
  """A progress line on stdout, from the primary process only."""
  import jax  # imported here: refusing bad input must not wait for JAX

  if jax.process_index() == 0:
    print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


def warn(message: str) -> None:
  """One `warning: ...` line on stderr."""
  _logger.warning('%s', ' '.join(message.split()))


def detail(message: str) -> None:
  """A line on stderr shown only when details were asked for (set_verbose)."""
  _logger.info('%s', message)


def set_verbose(verbose: bool) -> None:
  """Shows detail() lines (True) or only warnings (False, the default)."""
  _logger.setLevel(logging.INFO if verbose else logging.WARNING)
