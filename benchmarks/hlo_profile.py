"""Where the time of a compiled XLA program goes, per HLO instruction, from a jax.profiler trace.

XLA's runtimes mark each instruction they run (thunks on CPU, kernels on GPU) with the
instruction's name; summing the trace's events by name and matching the names to the optimised
HLO gives time per instruction, grouped into matmuls, random numbers (threefry), the rest of
the elementwise work, and control flow. Times are summed over threads: on a CPU, instructions of
one program run concurrently on the worker threads, so the sum can exceed the wall time.
"""

import collections
import glob
import re
import tempfile
import time
from typing import Callable

import jax

# name = shape opcode(operands), attributes; a shape may be a tuple: (f32[2]{0}, /*index=1*/...).
_INSTRUCTION = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+) = (.*?) ([a-z][\w\-]*)\((.*)$')
_COMPUTATION = re.compile(r'^\s*(?:ENTRY\s+)?%?([\w.\-]+) .*\{\s*$')
_CALLS = re.compile(r'(?:calls|to_apply|body|condition)=%?([\w.\-]+)')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_RNG_WORDS = ('threefry', 'random', '_bernoulli', '_uniform', 'rng')
_CONTROL = ('while', 'conditional', 'call')
_COLLECTIVES = ('all-reduce', 'all-gather', 'reduce-scatter', 'collective-permute', 'all-to-all')
_CONTROL_CATEGORY = 'control flow (contains the others)'


def parse_hlo(hlo_text: str) -> dict[str, dict]:
  """name -> {opcode, shape, op_name, category} for every instruction of the module."""
  computations, current = collections.defaultdict(list), None
  instructions = {}
  for line in hlo_text.splitlines():
    if m := _INSTRUCTION.match(line):
      name, shape, opcode, rest = m.groups()
      op_name = _OP_NAME.search(rest)
      instructions[name] = {
        'opcode': opcode,
        'shape': shape,
        'op_name': op_name.group(1) if op_name else '',
        'calls': _CALLS.findall(rest),
        'computation': current,
      }
      computations[current].append(name)
    elif m := _COMPUTATION.match(line):
      current = m.group(1)

  def has(computation, predicate, seen=()):
    for child in computations.get(computation, ()):
      info = instructions[child]
      if predicate(info) or any(
        c not in seen and has(c, predicate, seen + (c,)) for c in info['calls']
      ):
        return True
    return False

  def is_matmul(info):
    return info['opcode'] in ('dot', 'convolution') or (
      info['opcode'] == 'custom-call' and re.search(r'gemm|matmul|cublas', info['op_name'])
    )

  for info in instructions.values():
    if info['opcode'] in _CONTROL:
      info['category'] = _CONTROL_CATEGORY
    elif is_matmul(info) or any(has(c, is_matmul) for c in info['calls']):
      info['category'] = 'matmul'
    elif info['opcode'].startswith(_COLLECTIVES):
      info['category'] = 'collectives (waits included)'
    elif any(word in info['op_name'] for word in _RNG_WORDS):
      info['category'] = 'random numbers'
    elif info['opcode'] in ('copy', 'transpose', 'copy-start', 'copy-done'):
      info['category'] = 'copies'
    else:
      info['category'] = 'elementwise and reductions'
  return instructions


def _trace_events(run: Callable[[], None]) -> tuple[dict[str, tuple[float, int]], float]:
  """name -> (seconds, count) of every traced event while `run` runs, and run's wall time."""
  with tempfile.TemporaryDirectory() as directory:
    with jax.profiler.trace(directory):
      start = time.perf_counter()
      run()
      wall = time.perf_counter() - start
    path = glob.glob(f'{directory}/**/*.xplane.pb', recursive=True)[0]
    profile = jax.profiler.ProfileData.from_file(path)
    totals = collections.defaultdict(lambda: [0.0, 0])
    for plane in profile.planes:
      for line in plane.lines:
        for event in line.events:
          totals[event.name][0] += event.duration_ns / 1e9
          totals[event.name][1] += 1
  return {k: tuple(v) for k, v in totals.items()}, wall


def op_breakdown(run: Callable[[], None], hlo_text: str, iterations: int, top: int = 15) -> dict:
  """Times per iteration of the HLO instructions of `hlo_text` while `run` executes it.

  Args:
    run: executes the compiled program (already compiled) and blocks until it is done.
    hlo_text: the compiled program's optimised HLO (compiled.as_text()).
    iterations: training iterations that `run` performs (times are divided by it).
    top: instructions listed individually.
  """
  instructions = parse_hlo(hlo_text)
  events, wall = _trace_events(run)
  matched = {name: events[name] for name in instructions if name in events}
  work = {n: v for n, v in matched.items() if instructions[n]['category'] != _CONTROL_CATEGORY}
  total = sum(s for s, _ in work.values())
  categories = collections.defaultdict(float)
  for name, (seconds, _) in work.items():
    categories[instructions[name]['category']] += seconds
  rows = []
  for name, (seconds, count) in sorted(work.items(), key=lambda kv: -kv[1][0])[:top]:
    info = instructions[name]
    rows.append(
      {
        'instruction': name,
        'category': info['category'],
        'shape': info['shape'] if len(info['shape']) < 40 else info['shape'][:36] + '...',
        'ms_per_iter': seconds / iterations * 1e3,
        'share': seconds / total,
        'runs_per_iter': count / iterations,
        'op_name': info['op_name'].split('/', 1)[-1][-70:],
      }
    )
  return {
    'iterations': iterations,
    'wall_ms_per_iter': wall / iterations * 1e3,
    'op_ms_per_iter': total / iterations * 1e3,
    'instructions_run_per_iter': sum(c for _, c in work.values()) / iterations,
    'categories': {
      k: {'ms_per_iter': v / iterations * 1e3, 'share': v / total}
      for k, v in sorted(categories.items(), key=lambda kv: -kv[1])
    },
    'top': rows,
  }
