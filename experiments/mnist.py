r"""Trains the paper's GAN. The recipe comes from flags, usually a flagfile:

  python -m experiments.mnist --flagfile=experiments/configs/mnist_5k.flags --workdir=runs/mnist_5k

Run the same command again to resume from the newest checkpoint in --workdir.
"""

from absl import flags

from experiments import cli
from gan_jax import flags as gan_flags
from gan_jax import train

gan_flags.define_config_flags()
gan_flags.define_workdir_flag()
flags.DEFINE_bool('overwrite', False, 'Discard a previous run in --workdir instead of resuming.')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  config = gan_flags.config_from_flags()
  train.train_and_evaluate(config, FLAGS.workdir, overwrite=FLAGS.overwrite)


if __name__ == '__main__':
  cli.run(main)
