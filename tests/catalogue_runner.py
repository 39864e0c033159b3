"""Runs rows of the bad-input catalogue in one process: one entry point, many command lines.

  python -m tests.catalogue_runner experiments.sample rows.json > results.json

Each row ({"case", "args"}) goes through exactly what `python -m <module> <args>` runs
(experiments.cli.parse_flags, then cli.wrap(main)), with absl's flags reset in between, so a
row costs milliseconds instead of a Python and JAX start-up. Results: {"case", "exit",
"stderr"}; an exception that escapes is reported as its traceback with exit "uncaught".
"""

import contextlib
import importlib
import io
import json
import sys
import time
import traceback

from absl import flags


def run_rows(module_name: str, rows: list[dict]) -> list[dict]:
  from experiments import cli

  module = importlib.import_module(module_name)
  if hasattr(module, '__path__'):  # a package: `python -m` runs its __main__
    module = importlib.import_module(f'{module_name}.__main__')
  results = []
  for row in rows:
    flags.FLAGS.unparse_flags()
    stderr, start = io.StringIO(), time.perf_counter()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
      try:
        cli.wrap(module.main)(cli.parse_flags([module_name, *row['args']]))
        code = 0
      except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
      except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        code = 'uncaught'
    results.append(
      {
        'case': row['case'],
        'exit': code,
        'stderr': stderr.getvalue(),
        'seconds': time.perf_counter() - start,
      }
    )
  return results


if __name__ == '__main__':
  with open(sys.argv[2]) as f:
    rows = json.load(f)
  json.dump(run_rows(sys.argv[1], rows), sys.stdout)
