"""The tree's boundaries, read from the source: the library (gan_jax/) knows nothing of the entry
points (experiments/) that use it, and an experiment package (experiments/toy1d) uses only the
library's public names."""

import ast
import glob
import io
import os
import re
import subprocess
import sys
import tokenize

import pytest

from tests.helpers import ROOT

# A module path or file path under experiments/: `experiments.mnist`, `experiments/sweeps/`.
ENTRY_POINT = re.compile(r'\bexperiments[./]\w')


def test_the_pattern_finds_what_the_library_used_to_say():
  assert ENTRY_POINT.search("'python -m experiments.mnist --workdir=...'")
  assert ENTRY_POINT.search('(see experiments/sweeps/)')
  assert not ENTRY_POINT.search('def run(config, experiments: tuple[str, ...] = EXPERIMENTS):')


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
      offenders += [
        f'{where}:{node.lineno}: imports {m}'
        for m in modules
        if m == 'experiments' or m.startswith('experiments.')
      ]
    offenders += [
      f'{where}:{i}: {line.strip()}'
      for i, line in enumerate(text.splitlines(), 1)
      if ENTRY_POINT.search(line)
    ]
  assert offenders == []


def _sources(folder: str) -> dict[str, ast.Module]:
  paths = glob.glob(os.path.join(ROOT, folder, '**', '*.py'), recursive=True)
  assert paths, folder
  out = {}
  for path in sorted(paths):
    with open(path) as f:
      out[os.path.relpath(path, ROOT)] = ast.parse(f.read(), path)
  return out


def test_the_toy_uses_only_public_library_names():
  private = []
  for path, tree in _sources(os.path.join('experiments', 'toy1d')).items():
    library_aliases = set()
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, 'level', 0):
        module = getattr(node, 'module', None) or ''
        for alias in node.names:
          full = f'{module}.{alias.name}' if module else alias.name
          if full.split('.')[0] != 'gan_jax':
            continue
          if any(part.startswith('_') for part in full.split('.')):
            private.append(f'{path}: imports {full}')
          library_aliases.add(alias.asname or alias.name.split('.')[0])
    for node in ast.walk(tree):
      if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in library_aliases
        and node.attr.startswith('_')
      ):
        private.append(f'{path}: uses {node.value.id}.{node.attr}')
  assert not private, private


def test_the_tree_is_formatted_as_pyproject_says():
  """`make format` was run: ruff's formatter and import order leave every file as it is."""
  ruff = os.path.join(os.path.dirname(sys.executable), 'ruff')
  for args in (['format', '--check'], ['check', '--select', 'I']):
    result = subprocess.run([ruff, *args, '-q', '.'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_library_is_installed():
  """pyproject installs gan_jax alone: experiments/ and benchmarks/ run from the checkout, so
  no top-level `experiments` package lands in site-packages."""
  tomllib = pytest.importorskip('tomllib')
  import setuptools

  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    find = tomllib.load(f)['tool']['setuptools']['packages']['find']
  packages = setuptools.find_packages(ROOT, include=find['include'])
  assert 'gan_jax' in packages
  assert {p.split('.')[0] for p in packages} == {'gan_jax'}


def test_comments_and_docstrings_fit_in_100_columns():
  """ruff's formatter wraps code, not comments or strings that span lines: those are held here."""
  too_long = []
  for folder in ('gan_jax', 'experiments', 'benchmarks', 'tests'):
    for path in sorted(glob.glob(os.path.join(ROOT, folder, '**', '*.py'), recursive=True)):
      with open(path, encoding='utf-8') as f:
        text = f.read()
      lines = text.splitlines()
      for token in tokenize.generate_tokens(io.StringIO(text).readline):
        multiline_string = token.type == tokenize.STRING and token.start[0] != token.end[0]
        if token.type == tokenize.COMMENT or multiline_string:
          too_long += [
            f'{os.path.relpath(path, ROOT)}:{row}'
            for row in range(token.start[0], token.end[0] + 1)
            if len(lines[row - 1]) > 100
          ]
  assert too_long == []
