"""Errors a user can fix: one line that names the problem and the fix, exit code 2."""

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
