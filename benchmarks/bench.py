r"""Speed of the paper's MNIST GAN against the machine's matmul peak; writes bench.json.

  python -m benchmarks.bench --out=bench.json           # `make bench`: the paper model, minutes
  python -m benchmarks.bench --full --out=bench.json    # `make bench FULL=1`: every section
  python -m benchmarks.bench --quick --out=/tmp/b.json  # the same sections, small sizes
  python -m benchmarks.bench --profile                  # adds a per-HLO-instruction breakdown

By default, the paper model's figures: XLA's fp32 matmul peak (square) and the rate of the
model's own matmuls; the FLOPs of one iteration (XLA's cost analysis of one compiled
train_step); the full training loop (train.train_and_evaluate on the paper's recipe, default
log/checkpoint/sample intervals, after a warm-up run that compiles the fused step) against a bare
loop of the same compiled step. --full adds sampling, the evaluation classifier and the Parzen
protocol; how speed grows with batch size and with devices; every registered model (the CIFAR-10
ones at their original sizes); and the peak memory of a training run (about 20 minutes on 2 CPU
cores). Runs on any JAX backend unchanged.
"""

import dataclasses
import json
import os
import tempfile
import time

import jax
from absl import app, flags, logging

from benchmarks import measure, suite, tables

_DEFAULTS = suite.Options()
flags.DEFINE_string('out', 'bench.json', 'Where to write the results (JSON).')
flags.DEFINE_bool(
  'full',
  False,
  'Every section: also evaluation speed, batch and device scaling, every model (CIFAR-10 '
  'included) and the peak memory of a training run (about 20 min on 2 CPU cores).',
)
flags.DEFINE_bool('quick', False, 'A smoke run of the chosen sections with small sizes.')
flags.DEFINE_bool('profile', False, 'Trace the fused step and print where its time goes.')
flags.DEFINE_string(
  'dataset',
  _DEFAULTS.dataset,
  'Training data (the bundled mnist_5k works '
  'everywhere; fashion_mnist is the paper-size split of 50,000).',
)
flags.DEFINE_integer(
  'steps',
  None,
  'Full-loop steps (default 5000: 10 logs, one checkpoint and '
  'one sample grid, as in a run at the default intervals; quick: 500; 10x '
  'both on an accelerator).',
)
flags.DEFINE_integer(
  'bare_steps', None, 'Bare-loop steps (default 3000; quick: 400; 10x both on an accelerator).'
)
flags.DEFINE_integer(
  'chunk', _DEFAULTS.chunk, "Steps fused per compiled call (the config's steps_per_call)."
)
flags.DEFINE_list('batches', None, 'Batch sizes of the scaling table (default 50,...,800).')
flags.DEFINE_list('devices', None, 'Device counts of the scaling table (default 1,2,4).')
# A section that runs in its own process (forced device count, or a clean peak RSS).
flags.DEFINE_enum('child', None, ['devices', 'memory'], 'Internal: run one child section.')
flags.DEFINE_integer('child_devices', 1, 'Internal: devices of a --child=devices run.')
flags.DEFINE_integer(
  'device_steps', _DEFAULTS.device_steps, 'Internal: bare-loop steps of a device-scaling child.'
)
flags.DEFINE_integer('memory_steps', _DEFAULTS.memory_steps, 'Internal: steps of the memory child.')
FLAGS = flags.FLAGS


def options_from_flags() -> suite.Options:
  changes = {
    'dataset': FLAGS.dataset,
    'chunk': FLAGS.chunk,
    'profile': FLAGS.profile,
    'full': FLAGS.full,
  }
  for name in ('steps', 'bare_steps'):
    if FLAGS[name].value is not None:
      changes[name] = FLAGS[name].value
  for name in ('batches', 'devices'):
    if FLAGS[name].value is not None:
      changes[name] = tuple(int(v) for v in FLAGS[name].value)
  return suite.Options.for_platform(jax.devices()[0].platform, quick=FLAGS.quick, **changes)


def measure_suite(options: suite.Options) -> dict:
  """Every section `options` asks for (the paper model's; with options.full, all), and the
  headline summary."""
  start = time.perf_counter()
  config = suite.paper_config(
    options.dataset, steps_per_call=options.chunk, num_steps=options.steps
  )
  results = {'options': dataclasses.asdict(options), 'environment': suite.environment()}
  results['matmul_peak'] = measure.matmul_peak(suite.peak_sizes(options), options.repeats)
  results['cost'] = suite.model_cost(config, options)
  with tempfile.TemporaryDirectory(prefix='gan_jax_bench_') as root:
    results['training_loop'] = suite.training_loop(config, options, root)
    if options.full:
      results['evaluation'] = suite.evaluation_speed(
        config, options, results['training_loop']['workdir']
      )
  if options.full:
    results['batch_scaling'] = suite.batch_scaling(config, options)
    results['models'] = suite.model_speed(options, results['matmul_peak']['peak_gflops'])
    results['device_scaling'] = suite.device_scaling(options, results['cost']['iter_gflop'])
    results['memory'] = suite.run_child(
      'memory', f'--dataset={options.dataset}', f'--memory_steps={options.memory_steps}'
    )
  results['summary'] = suite.summary(
    results['matmul_peak'], results['cost'], results['training_loop']
  )
  results['load_average_end'] = [round(x, 2) for x in os.getloadavg()]
  results['bench_seconds'] = time.perf_counter() - start
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint at INFO
  if FLAGS.child == 'devices':
    print(
      json.dumps(
        suite.devices_child(FLAGS.dataset, FLAGS.child_devices, FLAGS.device_steps, FLAGS.chunk)
      )
    )
    return
  if FLAGS.child == 'memory':
    print(json.dumps(suite.memory_child(FLAGS.dataset, FLAGS.memory_steps)))
    return
  results = measure_suite(options_from_flags())
  print(tables.format_results(results))
  # The headline figures first, then every section.
  results = {**results.pop('summary'), **results}
  with open(FLAGS.out, 'w') as f:
    json.dump(results, f, indent=2, default=str)
  print(f'\nwrote {FLAGS.out} in {results["bench_seconds"]:.0f} s')


if __name__ == '__main__':
  app.run(main)
