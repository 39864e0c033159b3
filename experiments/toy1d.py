r"""The paper's 1-D illustration and theory, run: Figure 1, Proposition 1, Theorem 1, saturation
and a mode-collapse view, on the CPU in about a minute per experiment.

  python -m experiments.toy1d --workdir=runs/toy1d
  python -m experiments.toy1d --workdir=runs/toy1d_mixture --data=mixture --experiment=figure1

Writes figure1.{png,json}, theory.json, theorem1.png and modes.{png,json} under --workdir.
"""

from absl import flags

from experiments import cli
from gan_jax.runtime.config import MAX_SEED
from experiments import flags as gan_flags
from gan_jax import toy1d

gan_flags.define_workdir_flag()
_DEFAULTS = toy1d.ToyConfig()
flags.DEFINE_enum('data', _DEFAULTS.data, list(toy1d.DATA),
                  'p_data: a Gaussian or a two-mode mixture (the modes view always uses the '
                  'mixture).')
flags.DEFINE_enum('experiment', 'all', [*toy1d.EXPERIMENTS, 'all'], 'What to run.')
flags.DEFINE_enum('g_loss', _DEFAULTS.g_loss, ['non_saturating', 'minimax'],
                  'Generator loss of the main game.')
flags.DEFINE_enum('update', _DEFAULTS.update, ['alternating', 'simultaneous'],
                  'Update rule of the main game.')
flags.DEFINE_integer('d_steps', _DEFAULTS.d_steps, 'D steps per G step (k) of the main game.')
flags.DEFINE_integer('num_steps', _DEFAULTS.num_steps, 'Iterations of the main game.')
flags.DEFINE_integer('d_fit_steps', _DEFAULTS.d_fit_steps,
                     'D steps with G fixed when training D towards D*.')
flags.DEFINE_integer('mode_steps', _DEFAULTS.mode_steps, 'Iterations of each mode-view game.')
flags.DEFINE_integer('mode_seeds', _DEFAULTS.mode_seeds, 'Seeds of each mode-view game.')
flags.DEFINE_float('mode_start', _DEFAULTS.mode_start,
                   'Where the mode-view games start G (the median of G(z)): -1.5 is on the left '
                   'mode, 0 halfway between the modes.')
flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Seed of the main game.', lower_bound=0,
                     upper_bound=MAX_SEED)
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  config = toy1d.ToyConfig(
      data=FLAGS.data, g_loss=FLAGS.g_loss, update=FLAGS.update, d_steps=FLAGS.d_steps,
      num_steps=FLAGS.num_steps, d_fit_steps=FLAGS.d_fit_steps, mode_steps=FLAGS.mode_steps,
      mode_seeds=FLAGS.mode_seeds, mode_start=FLAGS.mode_start, seed=FLAGS.seed)
  experiments = toy1d.EXPERIMENTS if FLAGS.experiment == 'all' else (FLAGS.experiment,)
  toy1d.run(config, FLAGS.workdir, experiments)


if __name__ == '__main__':
  cli.run(main)
