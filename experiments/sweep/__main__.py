r"""Runs a hyperparameter sweep: populations for numbers, separate runs for structure.

  python -m experiments.sweep --flagfile=experiments/configs/mnist_5k.flags \
      --sweep=experiments/sweeps/seeds_lr.py --workdir=runs/sweep_seeds_lr

Members that differ only in numbers (seed, learning rates, momentum) train together as one
vmapped population, sharded over the devices; members that change shapes or code are separate
runs. Writes <workdir>/commands.sh (one command per group, for a scheduler: --launch=none), trains
every group here one after the other (--launch=local), then ranks the members in
<workdir>/results.md and results.csv. Run the same command again to resume.
"""

from absl import flags

from experiments import cli, config_flags

cli.define_distributed_flags()
config_flags.define_config_flags()
config_flags.define_workdir_flag()
flags.DEFINE_string(
  'sweep',
  None,
  'Python file defining sweep(): a list of dicts of flag '
  'overrides, one per member (see experiments/sweeps/).',
)
flags.DEFINE_enum(
  'launch',
  'local',
  ['local', 'none'],
  'local: train every group here, in '
  'sequence, then rank; none: only write <workdir>/commands.sh for a scheduler.',
)
flags.DEFINE_bool(
  'results_only',
  False,
  'Only evaluate members not yet evaluated and write '
  'results.csv / results.md (after a scheduler ran commands.sh).',
)
flags.DEFINE_string('group', None, 'Train only this group (what a line of commands.sh runs).')
flags.DEFINE_string(
  'rank_by',
  'parzen_ll',
  'Metric that ranks the members: parzen_ll, '
  'frechet_distance, kid, classifier_score, precision, recall, coverage, '
  'class_kl, or a training metric (d_loss, g_loss, d_real, d_fake).',
)
flags.DEFINE_enum(
  'rank_mode',
  'auto',
  ['auto', 'max', 'min'],
  "Whether higher or lower is better (auto: the metric's own direction).",
)
flags.DEFINE_enum(
  'eval',
  'auto',
  ['auto', 'parzen', 'full', 'none'],
  'Evaluation of each '
  "member at the end: parzen (the paper's Parzen LL), full (every metric of "
  'gan_jax.evaluation; trains its classifier on first use), none; auto: what '
  '--rank_by needs.',
)
flags.DEFINE_string(
  'gates',
  '',
  'Conditions a member must meet before it is ranked by --rank_by: comma-separated '
  'metric<=bound or metric>=bound, the bound a number or real_data (the reference row), e.g. '
  'frechet_distance<=16.5,recall>=0.69,nn_median_l2>=real_data. Members that fail a gate are '
  'ranked after those that pass, with the margin. Parzen alone rewards blur: gate it.',
)
flags.DEFINE_integer(
  'sweep_devices',
  0,
  "Device groups of a population (size of the mesh's "
  'sweep axis; each group trains members / groups members, data-parallel '
  'within it); 0: gcd(members, devices).',
)
flags.DEFINE_bool(
  'overwrite', False, 'Discard previous runs of the members instead of resuming them.'
)
flags.DEFINE_string('python', 'python', 'Interpreter named in commands.sh.')
flags.mark_flag_as_required('sweep')
cli.path_flags('sweep')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  base = config_flags.config_from_flags()
  cli.initialize_distributed()  # before anything touches a device
  from experiments.sweep import launch  # after the flags are checked: a typo fails fast

  launch.run_sweep(
    base,
    FLAGS.sweep,
    FLAGS.workdir,
    launch=FLAGS.launch,
    group=FLAGS.group,
    results_only=FLAGS.results_only,
    rank_by=FLAGS.rank_by,
    rank_mode=FLAGS.rank_mode,
    eval_mode=FLAGS.eval,
    gates=FLAGS.gates,
    sweep_devices=FLAGS.sweep_devices,
    overwrite=FLAGS.overwrite,
    python=FLAGS.python,
  )


if __name__ == '__main__':
  cli.run(main)
