"""The 1-D paper experiment (experiments/toy1d): its game, config, flags and experiments."""

import dataclasses
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from experiments import config_flags
from experiments.toy1d import game, runner, theory
from experiments.toy1d.config import ToyConfig
from gan_jax.base.errors import ConfigError
from gan_jax.game.state import create_train_state
from tests.helpers import run_module

FIELDS = {f.name: f for f in dataclasses.fields(ToyConfig)}


def _tiny_gan():
  config = ToyConfig(g_hidden=(8,), d_units=(8,), d_pieces=2, batch_size=16)
  return config, game.make_gan(config)


# ------------------------------------------------------------------ the toy's machinery


def test_a_frozen_net_does_not_move_and_its_optimiser_state_is_kept():
  config, gan = _tiny_gan()
  state = create_train_state(gan, 0, None)
  frozen_g = game.freeze(gan, 'generator')
  new, metrics = jax.jit(
    lambda s: game.train(s, gan=frozen_g, data=config.data_distribution, num_steps=3)
  )(state)
  assert int(new.step) == 3 and metrics['d_loss'].shape == (3,)
  chex_equal = lambda a, b: jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.all(u == v)), a, b))
  assert chex_equal(new.g_params, state.g_params)
  assert chex_equal(new.g_opt_state, state.g_opt_state)
  assert not chex_equal(new.d_params, state.d_params)


def test_config_errors_name_the_flag():
  with pytest.raises(ConfigError, match='--num_steps=70 must be a multiple of 50'):
    ToyConfig(num_steps=70)
  with pytest.raises(ConfigError, match='--early_step=75 must be a checkpoint'):
    ToyConfig(early_step=75)
  with pytest.raises(ConfigError, match='--d_steps=5 needs --update=alternating'):
    ToyConfig(update='simultaneous', d_steps=5)
  assert ToyConfig(num_steps=500).checkpoints(500) == [0, 50, 100, 200, 400, 500]


def test_cli_reports_a_bad_flag_in_one_line(tmp_path):
  result = subprocess.run(
    [sys.executable, '-m', 'experiments.toy1d', f'--workdir={tmp_path}', '--num_steps=70'],
    capture_output=True,
    text=True,
    cwd=os.path.dirname(os.path.dirname(__file__)),
    timeout=60,
  )
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
    'error: --num_steps=70 must be a multiple of 50 (steps per compiled call)'
  )


def test_every_config_field_is_a_flag_with_its_default():
  assert config_flags.from_args(ToyConfig, []) == ToyConfig()
  config = config_flags.from_args(
    ToyConfig,
    ['--batch_size=16', '--g_hidden=8,4', '--x_range=-3,3', '--data=mixture', '--g_loss=minimax'],
  )
  assert config == ToyConfig(
    batch_size=16, g_hidden=(8, 4), x_range=(-3.0, 3.0), data='mixture', g_loss='minimax'
  )
  # --help lists the entry point's own flags (absl exits 1 after it).
  result = run_module('experiments.toy1d', '--help')
  for name in [*FIELDS, 'workdir', 'experiment']:
    assert f'--{name}:' in result.stdout, name


@pytest.mark.parametrize(
  'args, message',
  [
    # The toy's fields share the main config's helper, and so its messages.
    (['--seed=-1'], '--seed must be >= 0, got -1'),
    (['--seed=4294967296'], '--seed=4294967296 is above 4294967295; JAX keeps only 32 bits'),
    (['--g_hidden='], '--g_hidden must hold positive widths, got []'),
    (['--x_range=1,-1'], '--x_range must be two numbers lo,hi with lo < hi'),
    (['--x_range=-inf,1'], '--x_range=-inf,1.0 holds a number that is not finite'),
    (['--num_x=1'], '--num_x must be >= 2, got 1'),
    (['--final_lr_fraction=2'], '--final_lr_fraction must be in [0, 1], got 2.0'),
    # Finite in float64, inf in float32 (the devices' type): refused before the game.
    (['--g_learning_rate=1e308'], '--g_learning_rate=1e+308 overflows float32'),
    (['--x_range=-1e39,1'], '--x_range=-1e+39 overflows float32'),
    (['--init_scale=1e-50'], '--init_scale=1e-50 is 0 in float32'),
  ],
)
def test_bad_flag_values_are_one_line_config_errors(args, message):
  with pytest.raises(ConfigError) as e:
    config_flags.from_args(ToyConfig, args)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_a_non_finite_game_names_the_flag_that_drove_it():
  config, gan = _tiny_gan()
  state = create_train_state(gan, 0, None)
  nan = lambda tree: jax.tree.map(lambda x: x * jnp.nan, tree)
  runner.check_finite(config, [state, state])
  with pytest.raises(
    ConfigError, match=r'generator became NaN/inf by step 50; .*--g_learning_rate \(now 0.0005\)'
  ):
    runner.check_finite(config, [state, state.replace(g_params=nan(state.g_params))])
  with pytest.raises(ConfigError, match=r'discriminator .*--d_learning_rate \(now 0.004\)'):
    runner.check_finite(config, [state, state.replace(d_params=nan(state.d_params))])
  with pytest.raises(ConfigError, match=r'--init_scale \(now 1e\+30\)'):
    runner.check_finite(
      config.replace(init_scale=1e30), [state.replace(g_params=nan(state.g_params))]
    )


# Property: any value for any flag gives a valid ToyConfig or a one-line ConfigError.
_values = st.one_of(
  st.text(max_size=12),
  st.integers(-(10**12), 10**12).map(str),
  st.floats(allow_nan=True, allow_infinity=True).map(repr),
  st.lists(st.integers(-5, 5000), max_size=4).map(lambda v: ','.join(map(str, v))),
  st.lists(st.floats(-2, 2), max_size=4).map(lambda v: ','.join(map(repr, v))),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(FIELDS)), value=_values)
def test_any_flag_value_gives_a_config_or_a_config_error(name, value):
  try:
    config = config_flags.from_args(ToyConfig, [f'--{name}={value}'])
  except ConfigError as e:
    assert str(e) and '\n' not in str(e)
  else:
    assert config.replace() == config  # construction validates: a copy is valid and equal


# ------------------------------------------------------------------ the experiments, tiny

# The experiments' own nets and fitting recipe; only the game is short and the grids coarse.
SMALL = ToyConfig(
  num_steps=100,
  num_x=1000,
  num_z=501,
  g_fit_steps=2,
  saturation_steps=300,
  mode_steps=100,
  mode_seeds=1,
)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('toy1d'))
  runner.run_experiments(SMALL, path, ('figure1', 'theory'), log=lambda _: None)
  return path


def _load(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return json.load(f)


def test_run_writes_the_figures_and_their_numbers(workdir):
  assert {'figure1.png', 'figure1.json', 'theory.json', 'theorem1.png'} <= set(os.listdir(workdir))
  figure = _load(workdir, 'figure1.json')
  assert [p['name'][:3] for p in figure['panels']] == ['(a)', '(b)', '(c)', '(d)']
  steps = [p['step'] for p in figure['panels']]
  assert steps == [50, 50 + SMALL.d_fit_steps, 50 + SMALL.d_fit_steps + 2, 100]
  for panel in figure['panels']:
    assert len(panel['p_g']) == len(figure['x']) == len(panel['d'])
    assert panel['p_g_mass_on_grid'] == pytest.approx(1.0, abs=1e-6)
  # (b) only trains D: G, hence p_g and the JSD, are those of (a).
  assert figure['panels'][1]['p_g'] == figure['panels'][0]['p_g']


def test_proposition1_trained_d_matches_d_star_for_a_known_p_g(workdir):
  known = _load(workdir, 'theory.json')['proposition1']['known_generator']
  assert known['initial_mean_error'] > 0.1  # an untrained D is far from D*
  assert known['mean_error'] < 0.03
  assert known['max_error'] < 0.1


def test_theorem1_along_training(workdir):
  result = _load(workdir, 'theory.json')
  assert result['steps'] == [0, 50, 100]
  for c, trained in zip(result['c_of_g'], result['c_of_g_trained_d']):
    assert c >= -theory.LOG4
    # No D beats D*: the trained D's value is a lower bound (to the x cells' resolution).
    assert trained <= c + 1e-3
    assert trained > c - 0.1
  assert result['two_jsd'][-1] < result['two_jsd'][0]  # G approaches p_data
  assert 0.3 < result['d_on_support'] < 0.7


def test_theorem1_on_the_games_grids_against_a_closed_form():
  """The game's own measures (G on the z grid, its push-forward p_g, the x-grid quadratures)
  for an affine G, against an adaptive quadrature of the closed-form densities: G(z) =
  z / sqrt 3 + 1/2 pushes p_z = U(-sqrt 3, sqrt 3) onto p_g = U(-1/2, 3/2)."""
  assert SMALL.data_distribution.means == (1.0,) and SMALL.data_distribution.stds == (0.5,)
  gan = game.make_gan(SMALL)
  state = create_train_state(gan, 0, np.zeros(1, np.float32))
  g = jax.tree.map(np.zeros_like, jax.device_get(state.g_params))
  # Hidden unit 0 of each layer carries z + 10 (> 0 on p_z's support, so ReLU passes it).
  g['hidden_0']['kernel'][0, 0], g['hidden_0']['bias'][0] = 1.0, 10.0
  g['hidden_1']['kernel'][0, 0] = 1.0
  g['output']['kernel'][0, 0] = 1 / math.sqrt(3)
  g['output']['bias'][0] = 0.5 - 10 / math.sqrt(3)
  measures = game.snapshot(state.replace(g_params=g), gan, SMALL).measures()
  p_data, p_g = stats.norm(1.0, 0.5).pdf, 0.5
  # C(G) = int p_data log(p_data / (p_data + p_g)) + p_g log(p_g / (p_data + p_g)); off p_g's
  # support the integrand is p_data log 1 = 0.
  c_of_g = integrate.quad(
    lambda t: (
      p_data(t) * math.log(p_data(t) / (p_data(t) + p_g)) + p_g * math.log(p_g / (p_data(t) + p_g))
    ),
    -0.5,
    1.5,
    epsabs=1e-13,
  )[0]
  assert c_of_g > -theory.LOG4 + 0.1  # far from the minimum: a real test of both sides
  assert measures['p_g_mass_on_grid'] == pytest.approx(1.0, abs=1e-6)
  # The support's ends fall on x cell edges (cells of 0.01 from -5): the midpoint rule's
  # error is O(dx^2): 5e-6 here.
  assert measures['c_of_g'] == pytest.approx(c_of_g, abs=2e-5)
  assert -theory.LOG4 + 2 * measures['jsd'] == pytest.approx(c_of_g, abs=2e-5)


def test_saturation_ratio_is_the_chain_rules(workdir):
  saturation = _load(workdir, 'theory.json')['saturation']
  rows = saturation['rows']
  first, last = rows[0], saturation['final']
  assert last['d_fake_mean'] < 1e-2 < first['d_fake_mean']
  assert last['ratio'] > 100 * max(first['ratio'], 1.0)
  for row in rows:
    assert row['per_sample_max_rel_error'] < 1e-5  # (1 - D)/D, to float32 rounding
  # The batch ratio exactly: by the chain rule through sigmoid, |sum_i (1 - D_i) dl_i| /
  # |sum_i D_i dl_i| (l_i D's logit on G(z_i)), recomputed on the states the run measured
  # (its D trained with G fixed, as theory.json says).
  gan = game.make_gan(SMALL)
  bias = np.array([saturation['g_output_bias']], np.float32)
  state = game.start_fit(create_train_state(gan, SMALL.seed, bias), gan, SMALL)
  run = game.trainer(
    game.discriminator_game(gan, SMALL), SMALL.data_distribution, SMALL.chunk_steps
  )
  z = gan.sample_noise(jax.random.PRNGKey(SMALL.seed + 1), saturation['num_samples'])

  @jax.jit
  def chain_rule_ratio(state):
    logits = lambda g_params: gan.discriminate(state.d_params, gan.generate(g_params, z))
    d = jax.nn.sigmoid(logits(state.g_params))
    pull = lambda w: optax.global_norm(jax.grad(lambda g: jnp.sum(w * logits(g)))(state.g_params))
    return pull(1.0 - d) / pull(d)

  for i, row in enumerate(rows):
    assert row['d_steps'] == i * SMALL.chunk_steps
    if i in (0, len(rows) - 1):
      assert float(chain_rule_ratio(state)) == pytest.approx(row['ratio'], rel=1e-4)
    if i < len(rows) - 1:
      state, _ = run(state)


def test_modes_view_on_one_game():
  config = dataclasses.replace(SMALL, mode_steps=100)
  result = runner.modes(config, games=(('non_saturating', 'alternating', 1),))
  [run] = result['runs']
  assert result['steps'] == [0, 50, 100]
  shares = np.asarray(run['shares'])
  assert shares.shape == (1, 3, 3)
  np.testing.assert_allclose(shares.sum(axis=-1), 1.0, atol=1e-5)
  assert shares[0, 0, 0] > 0.9  # G starts on the left mode
