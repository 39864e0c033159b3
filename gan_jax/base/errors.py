"""Errors a user can fix: one line that names the problem and the fix, exit code 2."""

import errno
import os
import re

# A full, read-only or forbidden disk: the user frees space or picks a writable path.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM)

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
    super().__init__(
      f'stopped by {signal_name} at step {step}; checkpoint written, run the same command to resume'
    )
    self.exit_code = 128 + signal_number


def file_error(error: OSError, what: str | None = None) -> UserError:
  """A file-system error as one line naming the path and the fix.

  Args:
    error: the OSError (its filename, when set, is the path named).
    what: how the user knows the path (e.g. '--out=x.png'); default: the path itself.
  """
  path = error.filename
  what = what or (str(path) if path is not None else 'a file (its name unknown)')
  code = error.errno
  if code == errno.ENOENT and path is not None:
    parent = os.path.dirname(os.path.abspath(str(path)))
    if not os.path.isdir(parent):
      return UserError(
        f'{what}: its parent directory {parent} does not exist; create it or fix the path'
      )
    return UserError(f'{what} does not exist; fix the path')
  if code == errno.EISDIR:
    return UserError(
      f'{what} is a directory where a file is expected; move it away or pick another path'
    )
  if code == errno.ENOTDIR:
    return UserError(
      f'{what}: part of the path is a file where a directory is expected; move '
      'that file away or pick another path'
    )
  if code in STORAGE_ERRNOS:
    return UserError(
      f'cannot write {what} ({error.strerror}); free space or pick a writable '
      'path, then run the same command to resume'
    )
  return UserError(f'{what}: {error.strerror or error}; check the path')


def storage_error(error: BaseException) -> OSError | None:
  """The OSError of a full/read-only/forbidden disk behind `error`, or None.

  Orbax wraps it; tensorstore reports it as a ValueError whose text carries the errno
  (`[os_error_code='28']`).
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
      return error
    match = re.search(r"os_error_code='(\d+)'", str(error))
    if match and int(match.group(1)) in STORAGE_ERRNOS:
      code = int(match.group(1))
      return OSError(code, os.strerror(code))
    error = error.__cause__ or error.__context__
  return None
