r"""Speed of the full Parzen protocol (Table 1) on random data of the paper's shapes.

  python -m benchmarks.parzen_speed            # 10k samples, 10k test, 1k validation, 10 sigmas

Prints the median of 3 timed runs after one compiling run, and the matmul FLOP rate it reaches.
Wall time depends on what else runs on the machine; `cpu_s` (process CPU time, all threads) does
much less: on an idle 2-core machine the wall time is about cpu_s / 2.
"""

import json
import os
import time

import numpy as np
from absl import app, flags

from gan_jax.evaluation import parzen

flags.DEFINE_integer('num_samples', parzen.NUM_SAMPLES, 'Parzen centres (samples).', lower_bound=1)
flags.DEFINE_integer('num_test', 10_000, 'Test images scored.', lower_bound=1)
flags.DEFINE_integer(
  'num_validation', parzen.NUM_VALIDATION, 'Validation images that choose sigma.', lower_bound=1
)
flags.DEFINE_integer('dim', 784, 'Dimensions of an image.', lower_bound=1)
flags.DEFINE_integer('repeats', 3, 'Timed runs after the compiling one.', lower_bound=1)
flags.DEFINE_integer('chunk_queries', None, "Queries per chunk (default: parzen's own).")
flags.DEFINE_integer('chunk_centres', None, "Centres per chunk (default: parzen's own).")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  args = FLAGS

  rng = np.random.default_rng(0)
  centres, validation, test = (
    rng.random((n, args.dim), dtype=np.float32)
    for n in (args.num_samples, args.num_validation, args.num_test)
  )
  chunks = {
    k: v
    for k, v in (('chunk_queries', args.chunk_queries), ('chunk_centres', args.chunk_centres))
    if v
  }

  def protocol():
    sigma, _ = parzen.select_sigma(centres, validation, parzen.SIGMAS, **chunks)
    return parzen.parzen_log_likelihood(test, centres, sigma, **chunks).mean()

  start = time.perf_counter()
  protocol()
  first = time.perf_counter() - start
  times, cpu = [], []
  for _ in range(args.repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    protocol()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  median = float(np.median(times))
  flop = 2 * args.dim * args.num_samples * (args.num_test + args.num_validation)
  print(
    json.dumps(
      {
        'num_samples': args.num_samples,
        'num_test': args.num_test,
        'num_validation': args.num_validation,
        'dim': args.dim,
        'num_sigmas': len(parzen.SIGMAS),
        'first_run_s': round(first, 3),
        'times_s': [round(t, 3) for t in times],
        'median_s': round(median, 3),
        'cpu_s': [round(t, 3) for t in cpu],
        'load_average': round(os.getloadavg()[0], 2),
        'matmul_gflop': round(flop / 1e9, 1),
        'gflop_per_s': round(flop / median / 1e9, 1),
      },
      indent=2,
    )
  )


if __name__ == '__main__':
  app.run(main)
