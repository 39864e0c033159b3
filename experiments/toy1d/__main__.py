r"""The paper's 1-D illustration and theory, run: Figure 1, Proposition 1, Theorem 1, saturation
and a mode-collapse view, on the CPU in about a minute per experiment.

  python -m experiments.toy1d --workdir=runs/toy1d
  python -m experiments.toy1d --workdir=runs/toy1d_mixture --data=mixture --experiment=figure1

Writes figure1.{png,json}, theory.json, theorem1.png and modes.{png,json} under --workdir.
Every field of ToyConfig is a flag (--helpfull lists them).
"""

from absl import flags

from experiments import cli, config_flags
from experiments.toy1d import runner
from experiments.toy1d.config import ToyConfig

config_flags.define_workdir_flag()
config_flags.define_flags(ToyConfig)
flags.DEFINE_enum('experiment', 'all', [*runner.EXPERIMENTS, 'all'], 'What to run.')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  config = config_flags.from_flags(ToyConfig)
  experiments = runner.EXPERIMENTS if FLAGS.experiment == 'all' else (FLAGS.experiment,)
  runner.run_experiments(config, FLAGS.workdir, experiments)


if __name__ == '__main__':
  cli.run(main)
