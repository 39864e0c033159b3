"""The library (gan_jax/) knows nothing of the entry points (experiments/) that use it."""

import ast
import glob
import os
import re

from tests.helpers import ROOT

# A module path or file path under experiments/: `experiments.mnist`, `experiments/sweeps/`.
ENTRY_POINT = re.compile(r'\bexperiments[./]\w')


def test_the_pattern_finds_what_the_library_used_to_say():
  assert ENTRY_POINT.search("'python -m experiments.mnist --workdir=...'")
  assert ENTRY_POINT.search('(see experiments/sweeps/)')
  assert not ENTRY_POINT.search("def run(config, experiments: tuple[str, ...] = EXPERIMENTS):")


def test_no_library_module_names_an_entry_point():
  offenders = []
  for path in sorted(glob.glob(os.path.join(ROOT, 'gan_jax', '**', '*.py'), recursive=True)):
    where = os.path.relpath(path, ROOT)
    with open(path, encoding='utf-8') as f:
      text = f.read()
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        modules = [node.module or '']
      else:
        continue
      offenders += [f'{where}:{node.lineno}: imports {m}' for m in modules
                    if m == 'experiments' or m.startswith('experiments.')]
    offenders += [f'{where}:{i}: {line.strip()}' for i, line in enumerate(text.splitlines(), 1)
                  if ENTRY_POINT.search(line)]
  assert offenders == []
