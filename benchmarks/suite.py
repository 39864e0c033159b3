"""What `benchmarks.bench` measures: its sections, each returning a JSON-able dict (the text
tables are benchmarks.tables)."""

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

from benchmarks import hlo_profile, measure
from experiments.config_flags import config_from_args
from gan_jax.evaluation import classifier
from gan_jax.loop import assembly, lone
from gan_jax.runtime import sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The paper's recipe with its default intervals (log 500, checkpoint and samples 5000).
FLAGFILE = os.path.join(ROOT, 'experiments', 'configs', 'fashion_mnist_paper.flags')
TARGET_SHARE = 0.9
TARGET_OVERHEAD = 1.03


@dataclasses.dataclass(frozen=True)
class Options:
  """How much to measure: the paper model's sections, or with `full` every section; `quick`
  is a smoke run of them (~1 min on 2 cores)."""

  dataset: str = 'mnist_5k'
  steps: int = 5000  # full-loop steps (lone.train_and_evaluate)
  bare_steps: int = 3000  # bare-loop steps, half before and half after the full loop
  chunk: int = 100  # steps per compiled call (the config's steps_per_call)
  repeats: int = 5
  peak_sizes: tuple[int, ...] = (2048, 4096)  # on a CPU
  accelerator_peak_sizes: tuple[int, ...] = (4096, 8192, 16384)
  batches: tuple[int, ...] = (50, 100, 200, 400, 800)
  devices: tuple[int, ...] = (1, 2, 4)
  device_steps: int = 1000
  memory_steps: int = 1000
  num_samples: int = 10_000
  parzen_args: tuple[str, ...] = ('--repeats=3',)
  profile: bool = False
  full: bool = False  # also evaluation, batch and device scaling, every model, memory

  @classmethod
  def for_platform(cls, platform: str, *, quick: bool = False, **changes) -> 'Options':
    """Defaults for `platform`: an accelerator runs ~10x more steps in the same time, so its
    loops run 10x more steps (the per-run costs would otherwise weigh 10x more)."""
    options = cls.quick() if quick else cls()
    if platform != 'cpu':
      options = dataclasses.replace(
        options,
        steps=10 * options.steps,
        bare_steps=10 * options.bare_steps,
        device_steps=10 * options.device_steps,
      )
    return dataclasses.replace(options, **changes)

  @classmethod
  def quick(cls, **changes):
    return cls(
      **{
        **dict(
          steps=500,
          bare_steps=400,
          repeats=2,
          peak_sizes=(2048,),
          accelerator_peak_sizes=(8192,),
          batches=(50, 100),
          devices=(1, 2),
          device_steps=200,
          memory_steps=200,
          num_samples=2000,
          parzen_args=('--repeats=1', '--num_samples=2000', '--num_test=2000'),
        ),
        **changes,
      }
    )


def peak_sizes(options: Options) -> tuple[int, ...]:
  cpu = jax.devices()[0].platform == 'cpu'
  return options.peak_sizes if cpu else options.accelerator_peak_sizes


def paper_config(dataset: str, **changes):
  config = config_from_args([f'--flagfile={FLAGFILE}', f'--dataset={dataset}'])
  return config.replace(**changes)


def environment() -> dict:
  device = jax.devices()[0]
  return {
    'platform': device.platform,
    'device_kind': device.device_kind,
    'devices': jax.device_count(),
    'cpu_count': os.cpu_count(),
    'jax': jax.__version__,
    # fp32 matmuls at XLA's default precision: full fp32 on CPU, TF32 on recent NVIDIA.
    'matmul_precision': str(jax.config.jax_default_matmul_precision or 'default'),
    'xla_flags': os.environ.get('XLA_FLAGS', ''),
    'load_average': [round(x, 2) for x in os.getloadavg()],
  }


def model_cost(config, options: Options) -> dict:
  """FLOPs of one iteration (XLA's cost analysis) and the rate of its matmuls run alone."""
  exp = assembly.setup(config)
  cost = measure.step_cost(exp, options.chunk)
  dots = measure.time_dots(cost['dots'], options.repeats)
  return {
    'iter_gflop': cost['iter_flop'] / 1e9,
    'iter_dot_gflop': cost['dot_flop'] / 1e9,
    'fused_call_gflop': cost['fused_call_flop'] / 1e9,
    'fused_call_steps': cost['fused_steps'],
    'fused_note': (
      f'cost_analysis of the fused lax.scan of {cost["fused_steps"]} steps reports '
      f'{cost["fused_call_flop"] / 1e9:.3f} GFLOP: the scan body counted once, '
      'not times its trip count'
    ),
    'model_matmuls': dots,
  }


# Every registered model at its original config's sizes and batch (random uint8 data: CIFAR-10
# need not be on the machine), one fused call of `model_steps` iterations.
MODEL_DATA_SHAPES = {
  'mnist_mlp': (28, 28, 1),
  'cifar10_fc': (32, 32, 3),
  'cifar10_conv': (32, 32, 3),
}


def model_speed(
  options: Options,
  peak_gflops: float,
  *,
  model_steps: int = 2,
  names: tuple[str, ...] | None = None,
) -> list[dict]:
  """Per model: bare-loop iterations/s, XLA's GFLOP per iteration and the share of the peak."""
  from gan_jax.base.config import Config
  from gan_jax.game import models
  from gan_jax.game.state import build_gan, create_train_state
  from gan_jax.runtime import parallel

  rows = []
  for name in names or models.names():
    config = Config(model=name, **models.get(name).recipe)
    if name == 'mnist_mlp':
      config = paper_config(options.dataset)
    shape = MODEL_DATA_SHAPES[name]
    data_dim = int(np.prod(shape))
    num = 10 * config.batch_size
    gan = build_gan(config, data_dim=data_dim, num_train=num)
    mesh = parallel.make_mesh(jax.devices()[:1])
    images = np.random.default_rng(0).integers(0, 256, (num, data_dim), dtype=np.uint8)
    state = jax.jit(
      lambda: create_train_state(gan, 0, None), out_shardings=parallel.replicated(mesh)
    )()
    data = parallel.put_replicated(images, mesh)
    one = parallel.compile_train_steps(gan, mesh, 1).lower(state, data).compile()
    iter_gflop = measure._flops(one) / 1e9  # one step: no scan trip-count ambiguity
    fused = parallel.compile_train_steps(gan, mesh, model_steps)
    state, _ = fused(state, data)  # compile and warm up
    jax.block_until_ready(state)
    times = []
    for _ in range(max(options.repeats // 2, 1)):
      start = time.perf_counter()
      state, _ = fused(state, data)
      jax.block_until_ready(state)
      times.append(time.perf_counter() - start)
    rate = model_steps / statistics.median(times)
    rows.append(
      {
        'model': name,
        'batch': config.batch_size,
        'iters_per_s': rate,
        'xla_iter_gflop': iter_gflop,
        'gflops': rate * iter_gflop,
        'share_of_peak': rate * iter_gflop / peak_gflops,
      }
    )
    del state, data
  return rows


def training_loop(config, options: Options, root: str) -> dict:
  """The full loop (lone.train_and_evaluate) against the bare fused step, same compiled code.

  Order: warm-up run (compiles the fused step; not timed), bare loop (half), full loop, bare
  loop (other half): a load that drifts during the measurement hits both sides alike.
  """
  with measure.shared_fused_steps() as shared:
    warmup = measure.time_full_loop(
      config.replace(num_steps=options.chunk), measure.temp_workdir(root, 'warmup'), shared
    )
    exp = assembly.setup(config)
    fused = shared.compiled[(options.chunk, exp.mesh)]
    state, data = exp.init_state(), exp.train_data()
    state, _ = fused(state, data)
    jax.block_until_ready(state)
    calls = max(options.bare_steps // options.chunk // 2, 1)
    state, s1, c1, per_call1 = measure.time_bare_loop(fused, state, data, calls)
    workdir = measure.temp_workdir(root, 'full')
    full = measure.time_full_loop(config, workdir, shared)
    state, s2, c2, per_call2 = measure.time_bare_loop(fused, state, data, calls)
    profile = None
    if options.profile:
      profile_steps = 20 if jax.devices()[0].platform == 'cpu' else 500
      profile = _profile(exp, state, data, profile_steps)
  bare_steps = 2 * calls * options.chunk
  bare = {
    'steps': bare_steps,
    'seconds': s1 + s2,
    'cpu_s': c1 + c2,
    'iters_per_s': bare_steps / (s1 + s2),
    'iters_per_s_median_call': options.chunk / statistics.median(per_call1 + per_call2),
    'halves_iters_per_s': [calls * options.chunk / s1, calls * options.chunk / s2],
  }
  per_step = lambda r, key: r[key] / r['steps']
  return {
    'warmup': warmup,
    'full': full,
    'bare': bare,
    'workdir': workdir,
    'overhead': per_step(full, 'seconds') / per_step(bare, 'seconds'),
    'overhead_cpu': per_step(full, 'cpu_s') / per_step(bare, 'cpu_s'),
    'overhead_in_run': full['seconds'] / full['in_calls_s'],
    'overhead_steady': (
      bare['iters_per_s_median_call'] / full['interval_iters_per_s_median']
      if full['interval_iters_per_s_median']
      else None
    ),
    'profile': profile,
  }


def _profile(exp, state, data, steps: int) -> dict:
  from gan_jax.runtime import parallel

  compiled = parallel.compile_train_steps(exp.gan, exp.mesh, steps).lower(state, data).compile()
  box = [compiled(state, data)[0]]

  def run():
    box[0], _ = compiled(box[0], data)
    jax.block_until_ready(box[0])

  run()
  return hlo_profile.op_breakdown(run, compiled.as_text(), steps)


def batch_scaling(config, options: Options) -> list[dict]:
  """Bare-loop iterations/s and XLA GFLOP/s per batch size (one compiled call ~ equal work)."""
  rows = []
  for batch in options.batches:
    exp = assembly.setup(config.replace(batch_size=batch))
    chunk = max(2, options.chunk * 100 // batch // 2 * 2)
    calls = 3 if options.repeats > 2 else 2
    rate = measure.loop_rate(exp, chunk, calls)
    rows.append(
      {
        'batch': batch,
        **rate,
        'gflops': rate['iters_per_s'] * rate['xla_iter_gflop'],
        'examples_per_s': rate['iters_per_s'] * batch,
      }
    )
  return rows


def device_scaling(options: Options, iter_gflop: float) -> list[dict]:
  """The bare loop on 1, 2, 4 devices, each in a process with that many forced CPU devices."""
  rows = []
  for n in options.devices:
    row = run_child(
      'devices',
      f'--child_devices={n}',
      f'--dataset={options.dataset}',
      f'--device_steps={options.device_steps}',
      f'--chunk={options.chunk}',
      devices=n,
    )
    if 'iters_per_s' in row:
      row['gflops'] = row['iters_per_s'] * iter_gflop
    rows.append(row)
  return rows


def devices_child(dataset: str, num_devices: int, steps: int, chunk: int) -> dict:
  devices = jax.devices()
  if len(devices) < num_devices:
    return {
      'devices': num_devices,
      'skipped': f'only {len(devices)} {devices[0].platform} device(s)',
    }
  from gan_jax.runtime import parallel

  exp = assembly.setup(paper_config(dataset), parallel.make_mesh(devices[:num_devices]))
  rate = measure.loop_rate(exp, chunk, max(steps // chunk, 1))
  return {'devices': num_devices, 'platform': devices[0].platform, **rate, **measure.peak_memory()}


def memory_child(dataset: str, steps: int) -> dict:
  """A short training run of the paper's recipe (compile, logs, a sample grid, a checkpoint)."""
  config = paper_config(dataset, num_steps=steps)
  with tempfile.TemporaryDirectory() as root:
    start = time.perf_counter()
    lone.train_and_evaluate(config, root)
    seconds = time.perf_counter() - start
  return {'steps': steps, 'seconds_with_compile': seconds, **measure.peak_memory()}


def run_child(kind: str, *args: str, devices: int = 1) -> dict:
  """python -m benchmarks.bench --child=kind in a fresh process with `devices` forced CPU
  devices; returns its last stdout line (JSON) and its peak RSS from the kernel."""
  env = dict(os.environ)
  env['XLA_FLAGS'] = ' '.join(
    [
      f
      for f in env.get('XLA_FLAGS', '').split()
      if not f.startswith('--xla_force_host_platform_device_count')
    ]
    + [f'--xla_force_host_platform_device_count={devices}']
  )
  start = time.perf_counter()
  process = subprocess.Popen(
    [sys.executable, '-m', 'benchmarks.bench', f'--child={kind}', *args],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  stdout, stderr = process.communicate()
  if process.returncode:
    return {'error': f'{kind} child failed (exit {process.returncode}): {stderr[-2000:]}'}
  row = json.loads(stdout.strip().splitlines()[-1])
  row['process_s'] = time.perf_counter() - start
  return row


def evaluation_speed(config, options: Options, workdir: str) -> dict:
  """Sampling from the full loop's checkpoint, the classifier's features, the Parzen protocol."""
  out = {}
  restored = sampling.restore(workdir)
  with measure.CompileLog() as compiles:
    start = time.perf_counter()
    samples = restored.sample(options.num_samples)
    first = time.perf_counter() - start
    times = []
    for seed in range(1, 3):
      start = time.perf_counter()
      restored.sample(options.num_samples, seed=seed)
      times.append(time.perf_counter() - start)
  out['sampling'] = {
    'num': options.num_samples,
    'checkpoint_step': restored.step,
    'first_call_s': first,
    'images_per_s': options.num_samples / min(times),
    'compiles_in_3_calls': compiles.summary()['count'],
  }

  start = time.perf_counter()
  clf = classifier.load_or_train(config.dataset)
  load_s = time.perf_counter() - start
  clf.features_and_probs(samples)
  times = []
  for _ in range(3):
    start = time.perf_counter()
    clf.features_and_probs(samples)
    times.append(time.perf_counter() - start)
  out['classifier_features'] = {
    'num': len(samples),
    'load_or_train_s': load_s,
    'images_per_s': len(samples) / statistics.median(times),
  }

  result = subprocess.run(
    [sys.executable, '-m', 'benchmarks.parzen_speed', *options.parzen_args],
    cwd=ROOT,
    capture_output=True,
    text=True,
  )
  if result.returncode:
    out['parzen'] = {'error': result.stderr[-2000:]}
  else:
    out['parzen'] = json.loads(result.stdout)
  return out


def summary(peak: dict, cost: dict, loop: dict) -> dict:
  """The headline figures (bench.json's top level)."""
  iter_gflop, peak_gflops = cost['iter_gflop'], peak['peak_gflops']
  train_rate, bare_rate = loop['full']['iters_per_s'], loop['bare']['iters_per_s']
  matmul_ceiling = 1 / cost['model_matmuls']['iteration_matmul_s']
  out = {
    'train_iters_per_s': train_rate,
    'bare_iters_per_s': bare_rate,
    'iter_gflop': iter_gflop,
    'peak_gflops': peak_gflops,
    'achieved_gflops': train_rate * iter_gflop,
    'bare_gflops': bare_rate * iter_gflop,
    'share_of_peak': train_rate * iter_gflop / peak_gflops,
    'bare_share_of_peak': bare_rate * iter_gflop / peak_gflops,
    'ceiling_iters_per_s': peak_gflops / iter_gflop,
    'model_matmul_gflops': cost['model_matmuls']['gflops'],
    'model_matmul_ceiling_iters_per_s': matmul_ceiling,
    'share_of_model_matmul_ceiling': train_rate / matmul_ceiling,
    'overhead': loop['overhead'],
    'overhead_cpu': loop['overhead_cpu'],
    'overhead_steady': loop['overhead_steady'],
    'overhead_in_run': loop['overhead_in_run'],
  }
  out['targets'] = {
    f'share_of_peak >= {TARGET_SHARE}': out['share_of_peak'] >= TARGET_SHARE,
    f'overhead <= {TARGET_OVERHEAD}': out['overhead'] <= TARGET_OVERHEAD,
  }
  return out
