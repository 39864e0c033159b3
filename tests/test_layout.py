"""The tree's boundaries, read from the source: the library (gan_jax/) knows nothing of the entry
points (experiments/) that use it, each of its folders imports only the floors below it (BUILD.md,
"How the code is built"), and an experiment package (experiments/toy1d) uses only the library's
public names."""

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


# The library's floors, bottom first: a module imports only from its own folder and the floors
# below it. Folders on one floor stand side by side: neither imports the other.
FLOORS = (
  ('base',),  # config, errors, log, files
  ('game',),  # the traced math: models, losses, optimisers, the state and step, preprocessing
  ('data',),  # host only: no JAX
  ('runtime',),  # devices, checkpoints, sampling, writers, resources
  ('loop',),  # the loop and its actions, the lone run and the population
  ('evaluation', 'sweep'),  # the gates and metrics; the sweep's pure plan
)
# A module that sits in one folder but belongs to another floor. The population trains over the
# loop: it is moving from sweep/ to loop/ (issue 18, item 1); drop this line when it has.
FLOOR_OF_MODULE: dict[str, str] = {}  # a module whose floor is not its folder's (none now)
# Everything that is JAX or runs it: a host-only floor imports none of these.
JAX_MODULES = {'jax', 'jaxlib', 'flax', 'optax', 'orbax', 'chex'}


def _library() -> dict[str, ast.Module]:
  """Every library module, by its path from the root (gan_jax/...)."""
  out = {}
  for path in sorted(glob.glob(os.path.join(ROOT, 'gan_jax', '**', '*.py'), recursive=True)):
    with open(path, encoding='utf-8') as f:
      out[os.path.relpath(path, ROOT)] = ast.parse(f.read(), path)
  return out


def _nodes(tree: ast.AST, *, in_functions: bool):
  """The nodes of `tree`; without those inside functions unless `in_functions`."""
  for child in ast.iter_child_nodes(tree):
    yield child
    if in_functions or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
      yield from _nodes(child, in_functions=in_functions)


def _imports(path: str, tree: ast.Module, *, in_functions: bool = True) -> list[tuple[int, str]]:
  """(line, dotted module) of each import in `tree` (in functions too, unless not
  `in_functions`), relative ones resolved; `from package import name` gives package.name where
  that is a library module, else package."""
  package = os.path.dirname(path).replace(os.sep, '.')
  out = []
  for node in _nodes(tree, in_functions=in_functions):
    if isinstance(node, ast.Import):
      out += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parent = package.split('.')[: len(package.split('.')) - node.level + 1]
        base = '.'.join([*parent, *([base] if base else [])])
      names = [f'{base}.{alias.name}' for alias in node.names]
      modules = [name for name in names if _is_library_module(name)]
      out += [(node.lineno, name) for name in modules or [base]]
  return out


def _is_library_module(module: str) -> bool:
  path = os.path.join(ROOT, *module.split('.'))
  return module.startswith('gan_jax.') and (os.path.isdir(path) or os.path.isfile(path + '.py'))


def _floor(folder: str) -> int:
  for i, folders in enumerate(FLOORS):
    if folder in folders:
      return i
  raise AssertionError(f'gan_jax/{folder}/ is on no floor: add it to FLOORS (and to BUILD.md)')


def _folder_of_path(path: str) -> str:
  """The floor's folder of a library file; the package's own __init__ is at the bottom."""
  if path in FLOOR_OF_MODULE:
    return FLOOR_OF_MODULE[path]
  parts = path.split(os.sep)
  return parts[1] if len(parts) > 2 else FLOORS[0][0]


def _folder_of_module(module: str) -> str | None:
  """The folder of an imported gan_jax module (None: not a library folder, e.g. gan_jax itself)."""
  parts = module.split('.')
  if parts[0] != 'gan_jax' or len(parts) < 2:
    return None
  path = os.path.join(*parts) + '.py'
  if path in FLOOR_OF_MODULE:
    return FLOOR_OF_MODULE[path]
  return parts[1] if os.path.isdir(os.path.join(ROOT, 'gan_jax', parts[1])) else None


def floor_violations(sources: dict[str, ast.Module]) -> list[str]:
  """'file:line: ...' for each import that runs up or across the floors."""
  out = []
  for path, tree in sources.items():
    folder = _folder_of_path(path)
    for line, module in _imports(path, tree):
      target = _folder_of_module(module)
      if target is None or target == folder:
        continue
      if _floor(target) > _floor(folder):
        out.append(f'{path}:{line}: {folder}/ imports {module}, a floor above it ({target}/)')
      elif _floor(target) == _floor(folder):
        out.append(f'{path}:{line}: {folder}/ imports {module}, beside it on its floor')
  return out


def test_the_floor_check_finds_an_import_up_and_one_across():
  tree = ast.parse(
    'import jax\nfrom gan_jax.base import config\n\n\ndef f():\n  from gan_jax.loop import lone\n'
  )
  assert floor_violations({os.path.join('gan_jax', 'game', 'x.py'): tree}) == [
    'gan_jax/game/x.py:6: game/ imports gan_jax.loop.lone, a floor above it (loop/)'
  ]
  tree = ast.parse('from gan_jax import sweep\n')
  assert floor_violations({os.path.join('gan_jax', 'evaluation', 'x.py'): tree}) == [
    'gan_jax/evaluation/x.py:1: evaluation/ imports gan_jax.sweep, beside it on its floor'
  ]


def test_no_import_runs_up_the_floors():
  assert floor_violations(_library()) == []


def test_build_md_states_the_floors_in_this_order():
  """BUILD.md's numbered list of folders ("How the code is built") climbs the floors."""
  with open(os.path.join(ROOT, 'BUILD.md'), encoding='utf-8') as f:
    text = f.read()
  section = text.split('## How the code is built', 1)[1].split('\n## ', 1)[0]
  listed = re.findall(r'^\d+\. `(\w+)/`', section, re.M)
  assert sorted(listed) == sorted(folder for folders in FLOORS for folder in folders), listed
  floors = [_floor(folder) for folder in listed]
  assert floors == sorted(floors), listed


def _jax_imports(sources: dict[str, ast.Module], paths: list[str]) -> list[str]:
  """'file:line: module' for each JAX import of `paths` (anywhere in them) and of the library
  modules they load (at import: a function of the bottom floor may import JAX when called, as
  log.info does, which the host-only code does not call), followed through the library."""
  out, seen, todo = [], set(), list(paths)
  while todo:
    path = todo.pop()
    if path in seen or path not in sources:
      continue
    seen.add(path)
    for line, module in _imports(path, sources[path], in_functions=path in paths):
      if module.split('.')[0] in JAX_MODULES:
        out.append(f'{path}:{line}: {module}')
      if module.startswith('gan_jax.'):
        parts = module.split('.')
        todo += [os.path.join(*parts) + '.py', os.path.join(*parts, '__init__.py')]
        todo.append(os.path.join(*parts[:-1], '__init__.py'))
  return sorted(set(out))


def test_data_is_host_only():
  """gan_jax/data/ imports no JAX, not even through the library modules it imports."""
  sources = _library()
  data = [p for p in sources if p.startswith(os.path.join('gan_jax', 'data', ''))]
  assert data
  assert _jax_imports(sources, data) == []


def test_the_sweep_plan_is_pure():
  """gan_jax/sweep/ holds the plan, pure functions of a Config: it imports only the bottom
  floor and no JAX (the population, which trains, belongs to the loop)."""
  sources = _library()
  plan = [
    p
    for p in sources
    if p.startswith(os.path.join('gan_jax', 'sweep', '')) and p not in FLOOR_OF_MODULE
  ]
  assert plan
  assert _jax_imports(sources, plan) == []
  beyond_base = [
    f'{path}:{line}: {module}'
    for path in plan
    for line, module in _imports(path, sources[path])
    if _folder_of_module(module) not in (None, 'base', 'sweep')
    or os.path.join(*module.split('.')) + '.py' in FLOOR_OF_MODULE
  ]
  assert beyond_base == []


def test_the_host_only_check_follows_imports_through_the_library():
  sources = {
    os.path.join('gan_jax', 'data', 'x.py'): ast.parse(
      'from gan_jax.base.y import z\n\n\ndef f():\n  import optax\n'
    ),
    os.path.join('gan_jax', 'base', 'y.py'): ast.parse(
      '\n\nimport jax.numpy as jnp\n\n\ndef g():\n  import chex\n'
    ),
  }
  assert _jax_imports(sources, [os.path.join('gan_jax', 'data', 'x.py')]) == [
    'gan_jax/base/y.py:3: jax.numpy',
    'gan_jax/data/x.py:5: optax',
  ]


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


def test_the_tree_is_formatted_and_linted_as_pyproject_says():
  """`make format` was run and `make lint` passes: ruff's formatter leaves every file as it is,
  imports are sorted, and none is unused (nor any assigned variable)."""
  ruff = os.path.join(os.path.dirname(sys.executable), 'ruff')
  for args in (['format', '--check'], ['check']):
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
