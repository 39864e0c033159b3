r"""Samples from a trained checkpoint.

python -m experiments.sample --workdir=runs/mnist_5k --num=100 --out=grid.png
python -m experiments.sample --workdir=runs/mnist_5k --num=10000 --out=samples.npy
"""

import os

from absl import flags

from experiments import cli
from gan_jax.base.config import MAX_SEED
from gan_jax.base.errors import UserError
from gan_jax.runtime import images, resources, sampling
from gan_jax.runtime import workdir as workdir_lib

flags.DEFINE_string('workdir', None, 'Workdir of a training run (holds checkpoints/).')
flags.DEFINE_integer('step', None, 'Checkpoint step to restore (default: the newest).')
flags.DEFINE_integer('num', 100, 'Number of samples.')
flags.DEFINE_string(
  'out', 'samples.png', '.png: a grid image; .npy: float32 [num, H, W, C] in [0, 1].'
)
flags.DEFINE_integer('seed', 0, 'Seed of the noise.', lower_bound=0, upper_bound=MAX_SEED)
flags.DEFINE_bool('overwrite', False, 'Replace --out if it exists.')
flags.DEFINE_bool(
  'raw_generator',
  False,
  "Use G itself, not the average of G's parameters that a run with --g_ema_decay keeps (runs "
  'without an average always use G).',
)
flags.mark_flag_as_required('workdir')
cli.path_flags('workdir', 'out')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  if not FLAGS.workdir:
    raise UserError('--workdir is empty (an unset shell variable?); pass a training workdir')
  if FLAGS.num <= 0:
    raise UserError(f'--num must be positive, got {FLAGS.num}')
  workdir_lib.check_output_file(FLAGS.out, '--out', ('.png', '.npy'), FLAGS.overwrite)
  ext = os.path.splitext(FLAGS.out)[1].lower()
  restored = sampling.restore(FLAGS.workdir, FLAGS.step, raw=FLAGS.raw_generator)
  resources.check_samples(f'--num={FLAGS.num}', FLAGS.num, restored.image_shape)
  samples = restored.sample(FLAGS.num, seed=FLAGS.seed)
  if ext == '.png':
    images.save_grid(FLAGS.out, samples)
  else:
    images.save_npy(FLAGS.out, samples)
  which = 'the average of G' if restored.averaged else 'G'
  print(f'wrote {FLAGS.num} samples of step {restored.step} ({which}) to {FLAGS.out}')


if __name__ == '__main__':
  cli.run(main)
