"""What every entry point shares: flag parsing and errors as one line with exit code 2."""

import sys
import traceback

from absl import app
from absl import flags
from absl import logging

from gan_jax.errors import USAGE_EXIT_CODE, UserError

flags.DEFINE_bool('verbose', False, 'Show the full traceback of an error.')
FLAGS = flags.FLAGS


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


def run(main) -> None:
  """app.run(main), turning UserError into `error: <one line>` and exit code 2."""

  def wrapped(argv):
    # Orbax and JAX log every checkpoint operation at INFO; our progress goes to stdout.
    logging.set_verbosity(logging.INFO if FLAGS.verbose else logging.WARNING)
    try:
      main(argv)
    except UserError as e:
      if FLAGS.verbose:
        traceback.print_exc()
      fail(' '.join(str(e).split()))

  app.run(wrapped, flags_parser=_parse_flags)
