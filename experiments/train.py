r"""Trains a GAN on any data set and model of the config. The recipe comes from flags, usually a
flagfile:

  python -m experiments.train --flagfile=experiments/configs/mnist_5k.flags --workdir=runs/mnist_5k

`python -m experiments.mnist` is the same program under the name the model card documents.

Run the same command again to resume from the newest checkpoint in --workdir.
"""

from absl import flags

from experiments import cli, config_flags

cli.define_distributed_flags()
config_flags.define_config_flags()
config_flags.define_workdir_flag()
flags.DEFINE_bool('overwrite', False, 'Discard a previous run in --workdir instead of resuming.')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  config = config_flags.config_from_flags()
  cli.initialize_distributed()  # before anything touches a device
  # Imported after the flags are checked, so a mistyped flag fails in a fraction of a second.
  from gan_jax.loop import lone

  eval_fn = None
  if config.eval_every > 0:
    from gan_jax import evaluation

    eval_fn = evaluation.make_eval_fn(config)
  lone.train_and_evaluate(config, FLAGS.workdir, overwrite=FLAGS.overwrite, eval_fn=eval_fn)


if __name__ == '__main__':
  cli.run(main)
