"""Sweeps: a vmapped population equals its members trained alone; structure becomes commands."""

import csv
import functools
import json
import os
import shlex
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.config_flags import config_from_args
from experiments.sweep import launch as sweep_launch
from experiments.sweep import ranking as sweep_ranking
from gan_jax.base.errors import ConfigError
from gan_jax.loop import assembly, lone, population
from gan_jax.loop import members as members_lib
from gan_jax.runtime import checkpoint, parallel, rundir, sampling, writers
from gan_jax.sweep import plan as sweep_plan
from tests.helpers import ROOT, make_test_config, subprocess_env

# Momentum SGD (the paper's optimiser) is linear in the gradient, so float noise between a
# batched and an unbatched program stays float noise; Adam divides by sqrt(v) and turns the
# noise on near-zero gradients into O(learning rate) steps.
BASE = (
  '--optimizer=sgd_momentum',
  '--checkpoint_every=10',
  '--sample_every=10',
  '--eval_num_samples=100',
)
MEMBERS = [
  dict(seed=0, learning_rate=0.5),
  dict(seed=1, learning_rate=0.2, momentum=0.6),
  dict(seed=2, learning_rate=1e30),  # diverges: marked failed, the others train on
  dict(seed=3, learning_rate=0.3, d_learning_rate=0.1),
]
COMPARED = (0, 1, 3)


def _write_spec(path, members):
  path.write_text(f'def sweep():\n  return {members!r}\n')
  return str(path)


def _run(spec, workdir, num_steps, **kwargs):
  base = make_test_config(*BASE, f'--num_steps={num_steps}')
  return sweep_launch.run_sweep(base, spec, workdir, sweep_devices=2, **kwargs)


@pytest.fixture(scope='module')
def population_sweep(tmp_path_factory):
  """The sweep run to 10 steps ("stopped"), then the same command to 20 (resumed)."""
  root = tmp_path_factory.mktemp('sweep')
  spec = _write_spec(root / 'spec.py', MEMBERS)
  workdir = str(root / 'run')
  _run(spec, workdir, 10, eval_mode='none', rank_by='d_loss', rank_mode='min')
  plan = _run(spec, workdir, 20)
  return plan, workdir


def _assert_same_training(member, solo, init, what):
  """Parameters equal to float tolerance: a few ulps of each value, plus 1% of how far training
  moved the net. The generator moves by ~1e-6 in 20 steps, so an absolute tolerance alone would
  prove nothing; a wrong seed, batch or learning rate is off by about the whole move."""
  leaves = lambda t: [np.asarray(x, np.float64) for x in jax.tree.leaves(t)]
  moved = max(np.max(np.abs(b - b0)) for b, b0 in zip(leaves(solo), leaves(init)))
  assert moved > 0, f'{what}: training did not move the parameters'
  for a, b in zip(leaves(member), leaves(solo)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-2 * moved, err_msg=what)


def test_population_members_equal_their_runs_alone(population_sweep, tmp_path):
  plan, workdir = population_sweep
  assert [len(g.members) for g in plan.groups] == [len(MEMBERS)]  # one population
  configs = [m.config for m in plan.members]
  mesh = population.make_mesh(len(configs), 2)
  # Only the scale of the comparison (how far training moved the nets); the initial states
  # themselves are checked against solo ones in test_members_start_where_their_runs_alone_do.
  inits = population.init_population(assembly.setup(configs[0], mesh), configs)
  one_device = parallel.make_mesh(jax.devices()[:1])  # alone: its own device, not the (2, 2) mesh
  for i in COMPARED:
    member, config = plan.members[i], configs[i]
    assert config.seed == MEMBERS[i]['seed'] and config.num_steps == 20
    init = jax.device_get(members_lib.Stacked(mesh).take(inits, i))
    solo_dir = str(tmp_path / member.name)
    solo = lone.train_and_evaluate(config, solo_dir, mesh=one_device)
    # The member's workdir restores alone, as a normal run's does, with its own config.
    restored = sampling.restore(os.path.join(workdir, member.name))
    assert restored.step == 20 and restored.config == config
    _assert_same_training(restored.state.g_params, solo.g_params, init.g_params, member.name)
    _assert_same_training(restored.state.d_params, solo.d_params, init.d_params, member.name)
    # The stopped population's checkpoint too (the straight half of the trajectory).
    at_10 = sampling.restore(os.path.join(workdir, member.name), step=10).state
    solo_10 = sampling.restore(solo_dir, step=10).state
    _assert_same_training(at_10.d_params, solo_10.d_params, init.d_params, f'{member.name}@10')
    # Its own hyperparameters live in its optimiser state.
    np.testing.assert_array_equal(
      restored.state.g_opt_state.hparams['learning_rate'], np.float32(config.learning_rate)
    )
    np.testing.assert_array_equal(
      restored.state.d_opt_state.hparams['learning_rate'],
      np.float32(config.d_learning_rate or config.learning_rate),
    )
    np.testing.assert_array_equal(
      restored.state.d_opt_state.hparams['momentum'], np.float32(config.momentum)
    )


def test_member_outputs_and_results_table(population_sweep):
  plan, workdir = population_sweep
  failed = plan.members[2].name
  assert os.path.exists(os.path.join(workdir, failed, rundir.FAILED_FILE))
  for i in COMPARED:
    member_dir = os.path.join(workdir, plan.members[i].name)
    assert sorted(os.listdir(os.path.join(member_dir, 'checkpoints'))) == ['10', '20']
    assert sorted(os.listdir(os.path.join(member_dir, 'samples'))) == [
      'step_00000010.png',
      'step_00000020.png',
    ]
    with open(os.path.join(member_dir, 'config.json')) as f:
      assert json.load(f) == plan.members[i].config.to_dict()
  with open(os.path.join(workdir, sweep_plan.RESULTS_CSV)) as f:
    rows = list(csv.DictReader(f))
  assert [r['member'] for r in rows][-1] == failed and rows[-1]['status'].startswith('failed')
  ranked = [r for r in rows if r['rank']]
  assert [r['rank'] for r in ranked] == ['1', '2', '3']
  lls = [float(r['parzen_ll']) for r in ranked]
  assert lls == sorted(lls, reverse=True) and all(np.isfinite(lls))
  assert {r['member'] for r in ranked} == {plan.members[i].name for i in COMPARED}
  md = open(os.path.join(workdir, sweep_plan.RESULTS_MD)).read()
  assert 'ranked by parzen_ll' in md and 'real training images' in md


def test_structural_sweep_lists_one_command_per_group(tmp_path):
  members = [
    dict(seed=0),
    dict(seed=1, learning_rate=0.05),  # one population
    dict(update='alternating', d_steps=2),  # a run of its own
    dict(g_hidden=[16, 16], seed=3),
    dict(g_hidden=[16, 16], seed=4),
  ]  # a population
  spec = _write_spec(tmp_path / 'spec.py', members)
  workdir = str(tmp_path / 'sweep')
  plan = sweep_launch.run_sweep(make_test_config(), spec, workdir, launch='none')
  assert [[m.name for m in g.members] for g in plan.groups] == [
    ['seed_0', 'seed_1-learning_rate_0.05'],
    ['update_alternating-d_steps_2'],
    ['g_hidden_16,16-seed_3', 'g_hidden_16,16-seed_4'],
  ]
  base_flags = os.path.join(workdir, sweep_plan.BASE_FLAGS_FILE)
  expected = [
    f'python -m experiments.sweep --flagfile={base_flags} --sweep={spec} --workdir={workdir} '
    '--group=base --eval=parzen --rank_by=parzen_ll --rank_mode=auto',
    f'python -m experiments.train --flagfile={base_flags} --update=alternating --d_steps=2 '
    f'--workdir={workdir}/update_alternating-d_steps_2',
    f'python -m experiments.sweep --flagfile={base_flags} --sweep={spec} --workdir={workdir} '
    '--group=g_hidden_16,16 --eval=parzen --rank_by=parzen_ll --rank_mode=auto',
  ]
  lines = open(os.path.join(workdir, sweep_plan.COMMANDS_FILE)).read().splitlines()
  assert [shlex.split(line) for line in lines] == [shlex.split(line) for line in expected]
  # base.flags reproduces the base config exactly; nothing was trained.
  assert config_from_args([f'--flagfile={base_flags}']) == make_test_config()
  assert not any(os.path.isdir(os.path.join(workdir, m.name)) for m in plan.members)


# Everything a shell or a flagfile could take apart, none of it a control character.
AWKWARD = 'it\'s "$HOME" `id` ; a*b \\ é'


def test_every_generated_line_round_trips_through_bash(tmp_path):
  members = [
    dict(name=f'{AWKWARD} 0', seed=0),
    dict(name=f'{AWKWARD} 1', seed=1),  # with the first: a population line
    dict(name=f'{AWKWARD} 2', update='alternating', d_steps=2),  # a train line
  ]
  spec = _write_spec(tmp_path / f'spec {AWKWARD}.py', members)
  workdir = str(tmp_path / f'sweep {AWKWARD}')
  echo = tmp_path / 'echo argv'  # stands in for python: prints the words it was given
  echo.write_text(f'#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv))\n')
  echo.chmod(0o755)
  base = make_test_config(f'--data_dir={tmp_path}/{AWKWARD}')
  plan = sweep_launch.run_sweep(
    base, spec, workdir, launch='none', rank_by='d_loss', rank_mode='min', python=str(echo)
  )
  expected = sweep_launch.command_args(
    plan,
    workdir,
    spec,
    python=str(echo),
    extra_sweep_args=['--eval=none', '--rank_by=d_loss', '--rank_mode=min'],
  )
  lines = open(os.path.join(workdir, sweep_plan.COMMANDS_FILE)).read().splitlines()
  assert len(lines) == len(plan.groups) == 2
  for line, argv in zip(lines, expected):
    done = subprocess.run(['bash', '-c', line], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == argv
  base_flags = os.path.join(workdir, sweep_plan.BASE_FLAGS_FILE)
  assert config_from_args([f'--flagfile={base_flags}']) == base


def test_a_population_line_carries_the_ranking_flags_it_needs(tmp_path):
  # --rank_by=d_loss needs no evaluation (--eval=none); a line without --rank_by would rank by
  # the default parzen_ll and be refused.
  spec = _write_spec(tmp_path / 'spec.py', [dict(seed=0), dict(seed=1)])
  workdir = str(tmp_path / 'sweep')
  base = make_test_config('--num_steps=10', '--checkpoint_every=10', '--sample_every=0')
  sweep_launch.run_sweep(
    base, spec, workdir, launch='none', rank_by='d_loss', rank_mode='min', python=sys.executable
  )
  (line,) = open(os.path.join(workdir, sweep_plan.COMMANDS_FILE)).read().splitlines()
  done = subprocess.run(
    ['bash', '-c', line], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True,
    timeout=300,
  )  # fmt: skip
  assert done.returncode == 0, done.stderr
  for name in ('seed_0', 'seed_1'):
    assert checkpoint.Checkpointer(os.path.join(workdir, name), read_only=True).all_steps() == [10]


def test_population_rules_fail_with_one_line():
  a, b = make_test_config(), make_test_config('--noise_dim=9', '--seed=1')
  with pytest.raises(ConfigError, match=r'differ in --noise_dim .* separate|changes shapes'):
    population.check_members([a, b])
  population.check_members([a, a.replace(seed=5, learning_rate=0.01, momentum=0.6)])
  with pytest.raises(ConfigError, match=r'--sweep_devices=2 must divide .* population size \(3\)'):
    population.make_mesh(3, sweep_devices=2)
  assert dict(population.make_mesh(6).shape) == {'sweep': 2, 'data': 2}
  assert dict(population.make_mesh(8).shape) == {'sweep': 4, 'data': 1}
  assert sweep_plan.product(a=[1, 2], b=['x']) == [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
  with pytest.raises(ConfigError, match='not a metric'):
    sweep_ranking.resolve_eval_mode('auto', 'sharpness')


def test_members_start_where_their_runs_alone_do():
  """Same initial draws (a vmap of threefry is each key's own draw) and each member's own
  hyperparameters, here Adam's (inject_hyperparams) learning rate and b1."""
  configs = [
    make_test_config('--seed=0'),
    make_test_config('--seed=1', '--learning_rate=0.01', '--adam_b1=0.9'),
  ]
  mesh = population.make_mesh(2)
  states = population.init_population(assembly.setup(configs[0], mesh), configs)
  alone = assembly.setup(configs[1]).init_state()
  member = members_lib.Stacked(mesh).take(states, 1)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(member), jax.device_get(alone))
  assert float(member.g_opt_state.hyperparams['b1']) == np.float32(0.9)


# ------------------------------------------------------------------------------ non-finite
# A population of two (seeds 0 and 1) on the (2, 2) mesh, test.flags (log every 10, checkpoint
# every 20); member 1's discriminator is poisoned with NaN after step 30.

POISON_STEP = 30


@functools.cache
def _compiled(gan, mesh, num_steps):
  return population.compile_population_steps(gan, mesh, num_steps)


def _poisoning(member: int):
  """A compile_steps for train_population whose steps make `member`'s D NaN once."""
  poisoned = []

  def compile_steps(gan, mesh, num_steps):
    fused = _compiled(gan, mesh, num_steps)
    poison = jax.jit(
      lambda s: s.replace(d_params=jax.tree.map(lambda x: x.at[member].set(jnp.nan), s.d_params)),
      out_shardings=members_lib.members_sharded(mesh),
    )

    def call(states, data):
      states, metrics = fused(states, data)
      if int(states.step[0]) == POISON_STEP and not poisoned:
        poisoned.append(True)
        states = poison(states)
      return states, metrics

    return call

  return compile_steps, poisoned


def _train_pair(root, *flags, compile_steps=_compiled):
  configs = [make_test_config(f'--seed={seed}', *flags) for seed in (0, 1)]
  workdirs = [str(root / f'seed_{seed}') for seed in (0, 1)]
  states = population.train_population(
    configs, workdirs, sweep_devices=2, compile_steps=compile_steps
  )
  mesh = states.step.sharding.mesh
  return (
    configs,
    workdirs,
    [jax.device_get(members_lib.Stacked(mesh).take(states, i)) for i in (0, 1)],
  )


@pytest.fixture(scope='module')
def healthy_pair(tmp_path_factory):
  return _train_pair(tmp_path_factory.mktemp('healthy'))


def test_a_non_finite_member_is_marked_failed_and_the_other_trains_on(healthy_pair, tmp_path):
  _, _, reference = healthy_pair
  compile_steps, poisoned = _poisoning(1)
  _, workdirs, finals = _train_pair(tmp_path, compile_steps=compile_steps)
  assert poisoned
  assert open(os.path.join(workdirs[1], rundir.FAILED_FILE)).read() == (
    "the discriminator's parameters became NaN/inf by step 30; the checkpoint of step 20 is "
    'kept: resume from it with a lower --learning_rate (now 0.002), or use '
    '--on_nonfinite=rollback\n'
  )
  assert not os.path.exists(os.path.join(workdirs[0], rundir.FAILED_FILE))
  assert [r['step'] for r in writers.read_metrics(workdirs[1])] == [10, 20]
  assert checkpoint.Checkpointer(workdirs[1]).all_steps() == [20]
  assert checkpoint.Checkpointer(workdirs[0]).all_steps() == [20, 40]
  jax.tree.map(np.testing.assert_array_equal, finals[0], reference[0])


def test_rollback_lowers_the_rate_of_the_non_finite_member_only(healthy_pair, tmp_path):
  """Both members go back to step 20; member 1 continues at half its learning rate, member 0
  recomputes its own steps: bit-identical to the population that was never poisoned."""
  _, _, reference = healthy_pair
  compile_steps, poisoned = _poisoning(1)
  configs, workdirs, finals = _train_pair(
    tmp_path, '--on_nonfinite=rollback', '--rollback_lr_factor=0.5', compile_steps=compile_steps
  )
  assert poisoned and int(finals[1].step) == 40
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(finals[1]))
  for opt_state in (finals[1].g_opt_state, finals[1].d_opt_state):
    assert float(opt_state.hyperparams['learning_rate']) == pytest.approx(
      configs[1].learning_rate * 0.5
    )
  jax.tree.map(np.testing.assert_array_equal, finals[0], reference[0])
  for workdir in workdirs:
    assert not os.path.exists(os.path.join(workdir, rundir.FAILED_FILE))
    assert [r['step'] for r in writers.read_metrics(workdir)] == [10, 20, 30, 40]
    assert checkpoint.Checkpointer(workdir).all_steps() == [20, 40]
