r"""Samples from a trained checkpoint.

python -m experiments.sample --workdir=runs/mnist_5k --num=100 --out=grid.png
python -m experiments.sample --workdir=runs/mnist_5k --num=10000 --out=samples.npy
python -m experiments.sample --workdir=runs/mnist_cgan --num=3 --labels=3,3,7 --out=three.png
python -m experiments.sample --workdir=runs/mnist_cgan --num=100 --labels=rows --out=grid.png
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
flags.DEFINE_string(
  'labels',
  None,
  "A conditional model's classes: one per sample (3,3,7), one for all (3), or 'rows' (a grid "
  "with one class per row). Default: labels drawn from the training split's class mix.",
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
  labels = columns = None
  if FLAGS.labels is not None:
    if not restored.gan.conditional:
      raise UserError(
        f'--labels needs a conditional model; the checkpoint in --workdir={FLAGS.workdir} is '
        f'--model={restored.config.model}, which takes no labels: drop --labels'
      )
    labels, columns = sampling.parse_labels(FLAGS.labels, FLAGS.num, restored.gan.num_classes)
  elif restored.gan.conditional:
    print(
      f'--model={restored.config.model} is conditional and no --labels were given: the labels '
      "are drawn from the training split's class mix (pass --labels to choose them)"
    )
  samples = restored.sample(FLAGS.num, seed=FLAGS.seed, labels=labels)
  if ext == '.png':
    images.save_grid(FLAGS.out, samples, columns=columns)
  else:
    images.save_npy(FLAGS.out, samples)
  which = 'the average of G' if restored.averaged else 'G'
  print(f'wrote {FLAGS.num} samples of step {restored.step} ({which}) to {FLAGS.out}')


if __name__ == '__main__':
  cli.run(main)
