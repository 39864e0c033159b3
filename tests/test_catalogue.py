"""Every row of the bad-input catalogue (tests/catalogue.py): one line, the exit code, the
words, and nothing written or changed."""

import collections
import hashlib
import json
import os
import string
import subprocess
import sys

import pytest

from gan_jax.loop import lone
from gan_jax.runtime import workdir as workdir_lib
from tests import catalogue
from tests.helpers import ROOT, make_test_config, run_module, subprocess_env


def _fixtures_of(args) -> set[str]:
  return {
    name
    for arg in args
    for _, name, _, _ in string.Formatter().parse(arg)
    if name and name != 'tmp'
  }


def snapshot(directory: str) -> dict[str, str]:
  """sha256 of every file under `directory` (lock files hold a pid: left out)."""
  out = {}
  for root, dirs, files in os.walk(directory):
    for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
      path = os.path.join(root, name)
      if name == workdir_lib.LOCK_FILE:
        continue
      key = os.path.relpath(path, directory)
      if os.path.islink(path):
        out[key] = 'link:' + os.readlink(path)
      else:
        with open(path, 'rb') as f:
          out[key] = hashlib.sha256(f.read()).hexdigest()
  return out


def _launch(module: str, devices: int, rows: list[dict], rows_file: str) -> subprocess.Popen:
  with open(rows_file, 'w') as f:
    json.dump(rows, f)
  return subprocess.Popen(
    [sys.executable, '-m', 'tests.catalogue_runner', module, rows_file],
    cwd=ROOT,
    env=subprocess_env(devices),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory):
  """Runs every row: each in its own sandbox, the rows of one entry point in one process."""
  trained = str(tmp_path_factory.mktemp('trained'))
  lone.train_and_evaluate(make_test_config(), trained)  # 40 steps: checkpoints 20 and 40
  root = tmp_path_factory.mktemp('catalogue')
  batches = collections.defaultdict(list)
  sandboxes, before, argv = {}, {}, {}
  for case, module, args, _, _, unchanged in catalogue.ROWS:
    sandbox = str(root / case)
    os.makedirs(sandbox)
    paths = {'tmp': sandbox}
    for name in sorted(_fixtures_of(args) | set(unchanged)):
      file_name, build = catalogue.FIXTURES[name]
      paths[name] = os.path.join(sandbox, file_name)
      build(paths[name], trained)
    sandboxes[case] = sandbox
    before[case] = snapshot(sandbox)
    argv[case] = [a.format(**paths) for a in args]
    batches[module].append({'case': case, 'args': argv[case]})
  procs = [
    (_launch(module, catalogue.DEVICES, rows, str(root / f'{module}.json')), module)
    for module, rows in batches.items()
  ]
  results = {}
  for proc, module in procs:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f'{module} runner failed: {err[-3000:]}'
    (root / f'{module}.results.json').write_text(out)  # each row's stderr and seconds
    results.update({r['case']: r for r in json.loads(out)})
  return {case: (results[case], sandboxes[case], before[case], argv[case]) for case in results}


@pytest.mark.parametrize(
  'case, module, args, exit_code, words, unchanged',
  catalogue.ROWS,
  ids=[row[0] for row in catalogue.ROWS],
)
def test_bad_input(outcomes, case, module, args, exit_code, words, unchanged):
  del module, args
  result, sandbox, before, _ = outcomes[case]
  assert 'Traceback' not in result['stderr'], result['stderr']
  assert '\x1b' not in result['stderr']  # no terminal escape sequence reaches the terminal
  assert result['exit'] == exit_code, result['stderr']
  # Warnings (e.g. each checkpoint skipped on the way) may precede it; nothing else may.
  lines = [l for l in result['stderr'].splitlines() if l.strip() and not l.startswith('warning: ')]
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  for word in words:
    assert word in lines[0], lines[0]
  after = snapshot(sandbox)
  assert after == before  # nothing written, removed or changed
  for name in unchanged:  # the files the row is about are still there
    file_name = catalogue.FIXTURES[name][0]
    assert any(k == file_name or k.startswith(file_name + os.sep) for k in after) or os.path.isdir(
      os.path.join(sandbox, file_name)
    )


def test_the_catalogue_covers_every_entry_point():
  modules = collections.Counter(row[1] for row in catalogue.ROWS)
  assert set(modules) == {
    catalogue.TRAIN,
    catalogue.SAMPLE,
    catalogue.EVALUATE,
    catalogue.SWEEP,
    catalogue.TOY1D,
    catalogue.REPRODUCE,
  }
  assert len(catalogue.ROWS) >= 60 and min(modules.values()) >= 8
  assert len({row[0] for row in catalogue.ROWS}) == len(catalogue.ROWS)


@pytest.mark.parametrize('case', ['toy1d_foreign_workdir', 'sweep_syntax_error'])
def test_a_real_process_says_what_the_in_process_runner_saw(outcomes, case):
  """The runner calls what `python -m` calls; two rows, run for real, must agree with it."""
  result, _, _, args = outcomes[case]
  module = next(row[1] for row in catalogue.ROWS if row[0] == case)
  real = run_module(module, *args, devices=catalogue.DEVICES)
  assert real.returncode == result['exit']
  assert [l for l in real.stderr.splitlines() if l.strip()] == [
    l for l in result['stderr'].splitlines() if l.strip()
  ]
