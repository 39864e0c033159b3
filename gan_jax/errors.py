"""Errors a user can fix: one line that names the problem and the fix, exit code 2.

Warnings (something was wrong and was handled) go to stderr as `warning: ...` lines through
the `gan_jax` logger, whatever the verbosity of absl's logging, which entry points turn down
to keep library chatter (orbax, JAX) out of the way.
"""

import logging
import sys



class _StderrHandler(logging.StreamHandler):
  """Writes to whatever sys.stderr is at the time (it may be replaced after import)."""

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value):
    del value


_logger = logging.getLogger('gan_jax')
if not _logger.handlers:
  _handler = _StderrHandler()
  _handler.setFormatter(logging.Formatter('warning: %(message)s'))
  _logger.addHandler(_handler)
  _logger.setLevel(logging.WARNING)
  _logger.propagate = False


def warn(message: str) -> None:
  """One `warning: ...` line on stderr."""
  _logger.warning('%s', ' '.join(message.split()))

USAGE_EXIT_CODE = 2


class UserError(Exception):
  """Bad input from the user (flag, path, file, workdir). Printed as one line, exit code 2."""

  exit_code = USAGE_EXIT_CODE


class ConfigError(UserError):
  """A flag or config value is invalid."""


class DataError(UserError):
  """A data set is missing, unreadable or malformed."""


class CheckpointError(UserError):
  """A checkpoint is missing, corrupt or belongs to an incompatible config."""


class Interrupted(Exception):
  """SIGTERM/SIGINT stopped training after a final checkpoint; the same command resumes.

  Entry points exit with 128 + the signal's number, as a shell does for a killed process, so a
  scheduler or a retry loop sees that the run did not finish.
  """

  def __init__(self, signal_name: str, signal_number: int, step: int):
    super().__init__(f'stopped by {signal_name} at step {step}; checkpoint written, run the '
                     'same command to resume')
    self.exit_code = 128 + signal_number
