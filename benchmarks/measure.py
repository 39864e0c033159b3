"""What `benchmarks.bench` measures: XLA's matmul rate, the model's FLOPs, the training loop.

Everything runs on the default JAX backend (CPU, GPU or TPU alike). Times are wall clock
(`time.perf_counter`) medians, taken after a call that compiles; `cpu_s` (this process's CPU
time, all threads) is kept beside them because it moves much less than wall time when other
jobs share the machine.
"""

import collections
import contextlib
import dataclasses
import functools
import math
import os
import re
import statistics
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax.base.config import Config
from gan_jax.game import steps
from gan_jax.game.state import create_train_state
from gan_jax.loop import assembly, lone
from gan_jax.runtime import parallel, writers

BACKEND_COMPILE = '/jax/core/compile/backend_compile_duration'


def time_call(fn: Callable, *args, repeats: int = 5, min_seconds: float = 0.05) -> float:
  """Median seconds per call of fn(*args), after a call that compiles.

  Each sample runs enough back-to-back calls to last `min_seconds` (small kernels on a GPU take
  microseconds; dispatch then overlaps with execution, as it does in training).
  """
  jax.block_until_ready(fn(*args))

  def sample(n):
    start = time.perf_counter()
    for _ in range(n):
      out = fn(*args)
    jax.block_until_ready(out)
    return time.perf_counter() - start

  n, elapsed = 1, sample(1)
  while elapsed < min_seconds:
    n = max(2 * n, math.ceil(n * 1.2 * min_seconds / max(elapsed, 1e-9)))
    elapsed = sample(n)
  return statistics.median([elapsed / n] + [sample(n) / n for _ in range(repeats - 1)])


def _random(shape, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), shape, jnp.float32)


def matmul_peak(sizes: tuple[int, ...], repeats: int) -> dict:
  """fp32 GFLOP/s of XLA's square matmuls at `sizes` (default precision); peak = the best."""
  rates = {}
  matmul = jax.jit(jnp.matmul)
  for n in sizes:
    a, b = _random((n, n), 1), _random((n, n), 2)
    rates[n] = 2 * n**3 / time_call(matmul, a, b, repeats=repeats, min_seconds=0.3) / 1e9
    del a, b
  return {
    'gflops_by_size': rates,
    'peak_gflops': max(rates.values()),
    'peak_size': max(rates, key=rates.get),
  }


# ------------------------------------------------------------------------------------------
# The model's FLOPs and matmuls, from XLA's compiled HLO.


@dataclasses.dataclass(frozen=True)
class Dot:
  """One dot of an optimised HLO module, with what is needed to run it alone."""

  lhs: tuple[int, ...]
  rhs: tuple[int, ...]
  lhs_contracting: tuple[int, ...]
  rhs_contracting: tuple[int, ...]
  lhs_batch: tuple[int, ...] = ()
  rhs_batch: tuple[int, ...] = ()

  @property
  def flops(self) -> int:
    free = [d for i, d in enumerate(self.lhs) if i not in self.lhs_contracting + self.lhs_batch]
    rhs_free = [d for i, d in enumerate(self.rhs) if i not in self.rhs_contracting + self.rhs_batch]
    contracted = math.prod(self.lhs[i] for i in self.lhs_contracting)
    batch = math.prod(self.lhs[i] for i in self.lhs_batch)
    return 2 * batch * math.prod(free) * math.prod(rhs_free) * contracted

  @property
  def label(self) -> str:
    def side(shape, contracting):
      return (
        '[' + ','.join(f'{d}*' if i in contracting else str(d) for i, d in enumerate(shape)) + ']'
      )

    return f'{side(self.lhs, self.lhs_contracting)}x{side(self.rhs, self.rhs_contracting)}'

  def run(self, a, b):
    return jax.lax.dot_general(
      a, b, ((self.lhs_contracting, self.rhs_contracting), (self.lhs_batch, self.rhs_batch))
    )


_DEF = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+) = \w+\[([\d,]*)\]')
_PARAM = re.compile(r'([\w.\-]+): \w+\[([\d,]*)\]')
_DOT = re.compile(r'= \w+\[[\d,]*\]\S* dot\(%?([\w.\-]+), %?([\w.\-]+)\)(.*)')


def _dims(text: str, key: str) -> tuple[int, ...]:
  match = re.search(key + r'=\{([\d,]*)\}', text)
  return tuple(int(d) for d in match.group(1).split(',') if d) if match else ()


def hlo_dots(hlo_text: str) -> list[Dot]:
  """Every dot of an optimised HLO module (inside fusions too), as run once per execution."""
  shapes = {}
  for line in hlo_text.splitlines():
    if m := _DEF.match(line):
      shapes[m.group(1)] = tuple(int(d) for d in m.group(2).split(',') if d)
    elif line.rstrip().endswith('{'):  # a computation's signature: its parameters' shapes
      shapes.update(
        {name: tuple(int(d) for d in dims.split(',') if d) for name, dims in _PARAM.findall(line)}
      )
  dots = []
  for line in hlo_text.splitlines():
    if m := _DOT.search(line):
      lhs, rhs, attrs = m.groups()
      dots.append(
        Dot(
          shapes[lhs],
          shapes[rhs],
          _dims(attrs, 'lhs_contracting_dims'),
          _dims(attrs, 'rhs_contracting_dims'),
          _dims(attrs, 'lhs_batch_dims'),
          _dims(attrs, 'rhs_batch_dims'),
        )
      )
  return dots


def time_dots(dots: list[Dot], repeats: int) -> dict:
  """Each distinct dot run alone: the rate XLA reaches at the model's own shapes.

  Returns rows (shape, count in one iteration, GFLOP, ms, GFLOP/s) and, for the whole set,
  the seconds one iteration's matmuls take and their GFLOP/s.
  """
  rows, total_s, total_flop = [], 0.0, 0
  for dot, count in collections.Counter(dots).most_common():
    fn = jax.jit(dot.run)
    seconds = time_call(fn, _random(dot.lhs, 1), _random(dot.rhs, 2), repeats=repeats)
    rows.append(
      {
        'shape': dot.label,
        'count': count,
        'gflop': dot.flops / 1e9,
        'ms': seconds * 1e3,
        'gflops': dot.flops / seconds / 1e9,
      }
    )
    total_s += count * seconds
    total_flop += count * dot.flops
  rows.sort(key=lambda r: -r['count'] * r['ms'])
  return {
    'rows': rows,
    'iteration_matmul_s': total_s,
    'iteration_matmul_gflop': total_flop / 1e9,
    'gflops': total_flop / total_s / 1e9,
  }


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost['flops'])


def abstract_inputs(exp: assembly.Experiment):
  """Shapes of the state and of the on-device training set (nothing allocated)."""
  # Only sigmoid-output models get a marginals bias (CIFAR-10's linear/deconv outputs have none).
  bias = (
    None
    if exp.output_bias is None
    else jax.ShapeDtypeStruct((exp.gan.generator.output_dim,), jnp.float32)
  )
  state = jax.eval_shape(lambda b: create_train_state(exp.gan, exp.config.seed, b), bias)
  data = jax.ShapeDtypeStruct((exp.train_images.shape[0], math.prod(exp.image_shape)), jnp.uint8)
  return state, data


def step_cost(exp: assembly.Experiment, fused_steps: int) -> dict:
  """XLA's cost analysis of ONE train_step (one device, the model's FLOPs), its dots, and of
  the fused lax.scan of `fused_steps` steps as the loop compiles it."""
  state, data = abstract_inputs(exp)
  batch = jax.ShapeDtypeStruct((exp.gan.d_steps, exp.gan.batch_size, data.shape[1]), jnp.float32)
  one = jax.jit(functools.partial(steps.train_step, gan=exp.gan)).lower(state, batch).compile()
  fused = parallel.compile_train_steps(exp.gan, exp.mesh, fused_steps).lower(state, data).compile()
  dots = hlo_dots(one.as_text())
  return {
    'iter_flop': _flops(one),
    'dots': dots,
    'dot_flop': sum(d.flops for d in dots),
    'fused_steps': fused_steps,
    'fused_call_flop': _flops(fused),
  }


# ------------------------------------------------------------------------------------------
# Compilations and the training loop.


class CompileLog:
  """Counts XLA compilations (by function name) and their seconds while installed."""

  def __init__(self):
    self.events: list[tuple[str, float]] = []

  def _listen(self, event, duration, **kwargs):
    if event == BACKEND_COMPILE:
      self.events.append((kwargs.get('fun_name', '?'), duration))

  def __enter__(self):
    jax.monitoring.register_event_duration_secs_listener(self._listen)
    return self

  def __exit__(self, *exc):
    jax.monitoring.unregister_event_duration_listener(self._listen)

  def summary(self) -> dict:
    seconds = collections.defaultdict(float)
    for name, duration in self.events:
      seconds[name] += duration
    return {
      'count': len(self.events),
      'seconds': sum(seconds.values()),
      'by_function': dict(collections.Counter(name for name, _ in self.events)),
      'seconds_by_function': dict(seconds),
    }


class SharedFusedSteps:
  """A compile_steps for lone.train_and_evaluate: one compiled fused step per (chunk, mesh) for
  every run it is passed to, each call timed to its end.

  Timing a call means waiting for it (block_until_ready) before the loop goes on; the loop then
  cannot overlap its own work with the device's, so what it does between calls counts in full:
  an upper bound on its cost. A wait per call of ~2 s of work costs microseconds.
  """

  def __init__(self, compile_train_steps=None):
    self.compiled = {}
    self.call_seconds: list[float] = []
    self._compile = compile_train_steps or parallel.compile_train_steps

  def __call__(self, gan, mesh, num_steps):
    key = (num_steps, mesh)
    if key not in self.compiled:
      self.compiled[key] = self._compile(gan, mesh, num_steps)
    fused = self.compiled[key]

    def timed(state, data):
      start = time.perf_counter()
      out = fused(state, data)
      jax.block_until_ready(out[0].step)  # the outputs of one execution are ready together
      self.call_seconds.append(time.perf_counter() - start)
      return out

    return timed


@contextlib.contextmanager
def shared_fused_steps():
  """Runs of one config given the yielded SharedFusedSteps (time_full_loop's `shared`) share
  the fused steps compiled by the first.

  lone.train_and_evaluate compiles its fused steps afresh in every call; a warm-up run given
  it compiles them, and a timed run after it reuses them, so the timed run holds no
  compilation of the fused step (a run of a fresh process pays it once, ~10 s on 2 cores).
  Yields the SharedFusedSteps: .compiled[(chunk, mesh)] is the jitted fused step.
  """
  yield SharedFusedSteps()


def time_full_loop(config: Config, workdir: str, shared: SharedFusedSteps | None = None) -> dict:
  """lone.train_and_evaluate(config) from scratch in `workdir` (its log beside it, in
  <workdir>.log: a run claims only an empty directory), timed from call to return.

  With `shared`, the run's compiled steps are those of `shared` (the real loop, handed its
  step; nothing is patched). Includes everything a run does besides compiling the fused step
  (see shared_fused_steps):
  setup (data already cached in memory), the initial state, every log, sample grid and
  checkpoint at the config's intervals, and the wait for the last checkpoint's write. With
  `shared`, also the time inside the fused calls, and what is left: the loop's own cost.
  """
  first_call = len(shared.call_seconds) if shared else 0
  with (
    CompileLog() as compiles,
    open(workdir.rstrip('/') + '.log', 'w') as log,
    contextlib.redirect_stdout(log),
  ):
    start, start_cpu = time.perf_counter(), time.process_time()
    lone.train_and_evaluate(config, workdir, compile_steps=shared)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
  # The loop's own clock, per log interval (from the previous log line to this one): what is
  # outside the intervals is the run's start (setup, initial state) and end (the last sample
  # grid and checkpoint, and the wait for its write).
  rows = writers.read_metrics(workdir)
  steps_before = [0] + [row['step'] for row in rows[:-1]]
  inside = sum(
    (row['step'] - before) / row['steps_per_s'] for row, before in zip(rows, steps_before)
  )
  rates = [row['steps_per_s'] for row in rows][1:]  # the first interval holds the start-up
  out = {
    'steps': config.num_steps,
    'seconds': seconds,
    'cpu_s': cpu,
    'iters_per_s': config.num_steps / seconds,
    'interval_iters_per_s_median': statistics.median(rates) if rates else None,
    'start_and_end_s': seconds - inside,
    'compiles': compiles.summary(),
  }
  if shared:
    calls = shared.call_seconds[first_call:]
    out.update(
      {
        'calls': len(calls),
        'in_calls_s': sum(calls),
        'outside_calls_s': seconds - sum(calls),
        'call_iters_per_s_median': config.num_steps / len(calls) / statistics.median(calls),
      }
    )
  return out


def time_bare_loop(fused, state, data, num_calls: int):
  """The same compiled fused step called back to back, nothing else: no metrics read, no I/O.

  Returns (state, seconds, cpu seconds, per-call seconds).
  """
  per_call = []
  start, start_cpu = time.perf_counter(), time.process_time()
  for _ in range(num_calls):
    t = time.perf_counter()
    state, _ = fused(state, data)
    jax.block_until_ready(state.step)
    per_call.append(time.perf_counter() - t)
  return state, time.perf_counter() - start, time.process_time() - start_cpu, per_call


def loop_rate(exp: assembly.Experiment, chunk: int, num_calls: int) -> dict:
  """Iterations/s of the bare fused loop for `exp`, compiled here (compilation not timed), and
  XLA's GFLOP per iteration: its cost analysis of the fused call, which counts the scan body
  once (per device: with N devices, each runs 1/N of the batch)."""
  state, data = exp.init_state(), exp.train_data()
  with CompileLog() as compiles:
    fused = parallel.compile_train_steps(exp.gan, exp.mesh, chunk).lower(state, data).compile()
    state, _ = fused(state, data)
    jax.block_until_ready(state.step)
  _, seconds, cpu, per_call = time_bare_loop(fused, state, data, num_calls)
  return {
    'chunk': chunk,
    'calls': num_calls,
    'seconds': seconds,
    'cpu_s': cpu,
    'iters_per_s': chunk * num_calls / seconds,
    'iters_per_s_median_call': chunk / statistics.median(per_call),
    'xla_iter_gflop': _flops(fused) / 1e9,
    'compile_s': compiles.summary()['seconds'],
  }


def peak_memory() -> dict:
  """This process's peak resident memory (VmHWM), and the device's peak where it reports one.

  ru_maxrss is kept beside it but is no measure for a child process: Linux carries it across
  fork and exec, so a child reports at least its parent's peak.
  """
  import resource

  out = {'ru_maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  if os.path.exists('/proc/self/status'):
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          out['peak_rss_mb'] = int(line.split()[1]) / 1024
  out.setdefault('peak_rss_mb', out['ru_maxrss_mb'])
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    out['device_peak_mb'] = stats['peak_bytes_in_use'] / 2**20
  return out


def temp_workdir(root: str, name: str) -> str:
  return tempfile.mkdtemp(prefix=f'{name}_', dir=root)
