"""G's moving average (--g_ema_decay): its recurrence, and that it rides along everywhere the
state goes (fused steps, checkpoints and resume, populations, devices, sampling, evaluation)."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError
from gan_jax.game import steps
from gan_jax.game.state import Average, build_gan, create_train_state
from gan_jax.loop import lone, population
from gan_jax.loop import members as members_lib
from gan_jax.runtime import checkpoint, parallel, sampling, writers
from tests.helpers import make_test_config, run_module

TINY = dict(g_hidden=(16,), d_units=(8, 8), d_pieces=2, noise_dim=4, batch_size=8)


def _setup(**overrides):
  config = Config(**{**TINY, **overrides})
  gan = build_gan(config, data_dim=12, num_train=64)
  state = create_train_state(gan, config.seed, None)
  data = jax.random.randint(jax.random.PRNGKey(5), (64, 12), 0, 256).astype(jnp.uint8)
  return config, gan, state, data


def test_update_follows_the_warm_up_formula():
  avg = Average(params={'w': jnp.zeros(3)}, decay=jnp.float32(0.999), warmup=jnp.float32(10.0))
  g = {'w': jnp.ones(3)}
  # t = 0: d_0 = min(0.999, 1/10) = 0.1, so the average moves 90% of the way.
  np.testing.assert_allclose(avg.update(g, jnp.int32(0)).params['w'], 0.9, rtol=1e-6)
  # t = 90: (1 + 90) / (10 + 90) = 0.91 < 0.999.
  np.testing.assert_allclose(avg.update(g, jnp.int32(90)).params['w'], 0.09, rtol=1e-5)
  # Late in a run the decay itself applies: (1 + t) / (10 + t) > 0.999 for t > 8,990.
  np.testing.assert_allclose(avg.update(g, jnp.int32(100_000)).params['w'], 1e-3, rtol=1e-3)
  # w = 1 is no warm-up: d from the first update.
  no_warmup = avg.replace(warmup=jnp.float32(1.0))
  np.testing.assert_allclose(no_warmup.update(g, jnp.int32(0)).params['w'], 1e-3, rtol=1e-3)


def test_no_average_keeps_the_state_of_the_original_code():
  _, gan, state, _ = _setup()
  assert state.g_average is None
  assert state.generator_params() is state.g_params


def test_the_average_follows_g_and_leaves_the_game_unchanged():
  """G and D train exactly as without an average; the average is the recurrence over the
  G iterates, replayed here in float64."""
  config, gan, state, data = _setup(optimizer='adam', learning_rate=0.01)
  _, avg_gan, avg_state, _ = _setup(
    optimizer='adam', learning_rate=0.01, g_ema_decay=0.9, g_ema_warmup=3.0
  )
  one = jax.jit(functools.partial(steps.train_steps, gan=gan, num_steps=1))
  one_avg = jax.jit(functools.partial(steps.train_steps, gan=avg_gan, num_steps=1))
  expected = jax.tree.map(lambda x: np.asarray(x, np.float64), avg_state.g_params)
  for t in range(6):
    state, _ = one(state, data)
    avg_state, _ = one_avg(avg_state, data)
    jax.tree.map(np.testing.assert_array_equal, state.g_params, avg_state.g_params)
    jax.tree.map(np.testing.assert_array_equal, state.d_params, avg_state.d_params)
    d = min(0.9, (1 + t) / (3 + t))
    expected = jax.tree.map(
      lambda a, p: d * a + (1 - d) * np.asarray(p, np.float64), expected, state.g_params
    )
  moved = max(
    float(np.max(np.abs(a - np.asarray(b))))
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(state.g_params))
  )
  assert moved > 1e-4, 'the average should lag G'
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
    avg_state.g_average.params,
    expected,
  )
  assert avg_state.generator_params() is avg_state.g_average.params
  assert avg_state.generator_params(raw=True) is avg_state.g_params


def test_one_and_four_devices_give_the_same_average():
  _, gan, _, data = _setup(batch_size=16, g_ema_decay=0.99)

  def run(devices):
    mesh = parallel.make_mesh(devices)
    init = jax.jit(
      lambda: create_train_state(gan, 0, None), out_shardings=parallel.replicated(mesh)
    )
    state, _ = parallel.compile_train_steps(gan, mesh, 20)(
      init(), parallel.put_replicated(np.asarray(data), mesh)
    )
    return state

  one, four = run(jax.devices()[:1]), run(jax.devices()[:4])
  assert len(four.g_average.params['output']['kernel'].sharding.device_set) == 4
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
    one.g_average.params,
    four.g_average.params,
  )


@pytest.mark.parametrize(
  'flags, message',
  [
    (dict(g_ema_decay=1.0), '--g_ema_decay must be in [0, 1)'),
    (dict(g_ema_decay=-0.1), '--g_ema_decay must be in [0, 1)'),
    (dict(g_ema_warmup=0.5), '--g_ema_warmup must be in [1, '),
    (dict(g_ema_warmup=1e12), '--g_ema_warmup must be in [1, '),
  ],
)
def test_bad_average_flags_are_one_line(flags, message):
  with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(')', r'\)')):
    Config(**flags)


@pytest.fixture(scope='module')
def averaged(tmp_path_factory):
  """The test config with an average, 40 steps straight through, evaluated every 20."""
  workdir = str(tmp_path_factory.mktemp('averaged'))
  config = make_test_config('--g_ema_decay=0.95', '--eval_every=20')
  calls = []

  def eval_fn(gan, g_params, step):
    calls.append(g_params)
    return {'mean': float(np.mean(sampling.draw(gan, g_params, 8)))}

  state = lone.train_and_evaluate(config, workdir, eval_fn=eval_fn)
  return config, workdir, state, calls


def test_evaluation_reports_the_average_and_the_raw_generator(averaged):
  _, workdir, state, calls = averaged
  rows = [r for r in writers.read_metrics(workdir) if 'eval/mean' in r]
  assert [r['step'] for r in rows] == [20, 40]
  assert all('eval_raw/mean' in r for r in rows)
  assert rows[-1]['eval/mean'] != rows[-1]['eval_raw/mean']
  # At step 40: first the average, then the raw G.
  jax.tree.map(np.testing.assert_array_equal, calls[-2], state.g_average.params)
  jax.tree.map(np.testing.assert_array_equal, calls[-1], state.g_params)


def test_an_averaged_run_resumes_bit_for_bit(averaged, tmp_path):
  config, _, reference, _ = averaged
  workdir = str(tmp_path)
  lone.train_and_evaluate(config.replace(num_steps=20, eval_every=0), workdir)
  resumed = lone.train_and_evaluate(config.replace(eval_every=0), workdir)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(reference), jax.device_get(resumed))
  # A checkpoint's integrity hash covers the average.
  assert checkpoint.state_sha256(resumed) != checkpoint.state_sha256(
    resumed.replace(g_average=resumed.g_average.replace(params=resumed.g_params))
  )


def test_restore_samples_the_average_unless_raw(averaged):
  config, workdir, state, _ = averaged
  restored = sampling.restore(workdir)
  assert restored.averaged and restored.config == config
  jax.tree.map(np.testing.assert_array_equal, restored.g_params, state.g_average.params)
  raw = sampling.restore(workdir, raw=True)
  assert not raw.averaged
  jax.tree.map(np.testing.assert_array_equal, raw.g_params, state.g_params)
  assert not np.array_equal(restored.sample(4), raw.sample(4))


def test_sample_cli_names_which_generator_it_drew(averaged, tmp_path):
  _, workdir, _, _ = averaged
  out = run_module(
    'experiments.sample', f'--workdir={workdir}', '--num=4', f'--out={tmp_path / "a.npy"}'
  )
  assert out.returncode == 0, out.stderr
  assert '(the average of G)' in out.stdout
  out = run_module(
    'experiments.sample',
    f'--workdir={workdir}',
    '--num=4',
    '--raw_generator',
    f'--out={tmp_path / "b.npy"}',
  )
  assert out.returncode == 0, out.stderr
  assert '(G)' in out.stdout
  assert not np.array_equal(np.load(tmp_path / 'a.npy'), np.load(tmp_path / 'b.npy'))


def test_resuming_with_another_decay_names_the_flag(averaged, tmp_path):
  config, workdir, _, _ = averaged
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f)['g_ema_decay'] == 0.95
  with pytest.raises(Exception, match='--g_ema_decay was 0.95, now 0.9'):
    lone.train_and_evaluate(config.replace(g_ema_decay=0.9, num_steps=60), workdir)


def test_population_members_average_as_they_would_alone(tmp_path):
  """Members differing in decay and warm-up share one vmapped step; each member's average is
  the one its run alone keeps."""
  base = make_test_config(
    '--optimizer=sgd_momentum',
    '--learning_rate=0.5',
    '--num_steps=10',
    '--checkpoint_every=10',
    '--sample_every=10',
  )
  configs = [
    base.replace(seed=0, g_ema_decay=0.9, g_ema_warmup=1.0),
    base.replace(seed=1, g_ema_decay=0.5, g_ema_warmup=10.0),
  ]
  dirs = [str(tmp_path / f'm{i}') for i in range(2)]
  states = population.train_population(configs, dirs, sweep_devices=2)
  mesh = states.step.sharding.mesh
  one_device = parallel.make_mesh(jax.devices()[:1])
  for i, config in enumerate(configs):
    member = jax.device_get(members_lib.Stacked(mesh).take(states, i))
    np.testing.assert_array_equal(member.g_average.decay, np.float32(config.g_ema_decay))
    np.testing.assert_array_equal(member.g_average.warmup, np.float32(config.g_ema_warmup))
    solo = lone.train_and_evaluate(config, str(tmp_path / f'solo{i}'), mesh=one_device)
    moved = max(
      float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
      for a, b in zip(jax.tree.leaves(solo.g_average.params), jax.tree.leaves(solo.g_params))
    )
    assert moved > 0
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-2 * moved),
      member.g_average.params,
      jax.device_get(solo.g_average.params),
    )


def test_a_population_averages_every_member_or_none():
  base = make_test_config()
  with pytest.raises(ConfigError, match='differ in whether G is averaged'):
    population.check_members([base.replace(g_ema_decay=0.9), base])
  population.check_members([base.replace(g_ema_decay=0.9), base.replace(g_ema_decay=0.99)])
  assert population.structure(base.replace(g_ema_decay=0.9, seed=3)) == population.structure(
    base.replace(g_ema_decay=0.999, g_ema_warmup=1.0)
  )
