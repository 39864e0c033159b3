"""The original optimiser recipe (pylearn2 momentum SGD and its schedules) by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.base.config import Config
from gan_jax.game import optim


def _paper(steps_per_epoch=10):
  return optim.paper_sgd(
    learning_rate=0.1,
    lr_decay=1.000004,
    min_learning_rate=1e-6,
    momentum=0.5,
    final_momentum=0.7,
    saturate_epoch=250,
    steps_per_epoch=steps_per_epoch,
  )


def test_two_updates_match_pylearn2_momentum_by_hand():
  tx = _paper()
  params = {'w': jnp.array([1.0, -2.0])}
  g = np.array([0.3, -0.7])
  state = tx.init(params)
  u1, state = tx.update({'w': jnp.asarray(g)}, state)
  u2, state = tx.update({'w': jnp.asarray(g)}, state)
  v1 = -0.1 * g  # v <- mu v - eps_0 g, v = 0
  v2 = 0.5 * v1 - (0.1 / 1.000004) * g  # mu = 0.5 during epoch 1
  np.testing.assert_allclose(np.asarray(u1['w']), v1, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(u2['w']), v2, rtol=1e-6)
  assert int(state.count) == 2


@pytest.mark.parametrize(
  'count, expected',
  [
    (0, 0.1),
    (100_000, 0.1 / 1.000004**100_000),
    (1_000_000, 0.1 / 1.000004**1_000_000),
    (10_000_000, 1e-6),  # 0.1/1.000004^1e7 < 1e-6: the floor
  ],
)
def test_learning_rate_schedule(count, expected):
  hparams = _paper().init({'w': jnp.zeros(1)}).hparams
  lr = float(optim.paper_learning_rate(jnp.asarray(count), hparams))
  assert lr == pytest.approx(expected, rel=2e-5)


@pytest.mark.parametrize(
  'count, expected',
  [
    (0, 0.5),
    (9, 0.5),  # epoch 1 (10 minibatches an epoch)
    (10, 0.5 + 0.2 / 249),  # epoch 2
    (1240, 0.5 + 0.2 * 124 / 249),  # epoch 125
    (2490, 0.7),
    (100_000, 0.7),  # epoch 250 and after
  ],
)
def test_momentum_schedule(count, expected):
  hparams = _paper().init({'w': jnp.zeros(1)}).hparams
  mu = float(optim.paper_momentum(jnp.asarray(count), hparams, steps_per_epoch=10))
  assert mu == pytest.approx(expected, rel=1e-6)


def test_paper_sgd_differs_from_optax_sgd_trace():
  """optax.sgd scales the accumulated gradient by the current rate; pylearn2 does not."""
  import optax

  tx_ref = optax.sgd(lambda t: 0.1 * 0.5**t, momentum=0.5)
  tx = optim.paper_sgd(
    learning_rate=0.1,
    lr_decay=2.0,
    min_learning_rate=1e-9,
    momentum=0.5,
    final_momentum=0.5,
    saturate_epoch=250,
    steps_per_epoch=10,
  )
  p = {'w': jnp.ones(1)}
  s, s_ref = tx.init(p), tx_ref.init(p)
  g = {'w': jnp.ones(1)}
  for _ in range(2):
    u, s = tx.update(g, s)
    u_ref, s_ref = tx_ref.update(g, s_ref)
  # pylearn2: v2 = 0.5 * (-0.1) - 0.05 = -0.1; optax: -(0.05) * (1 + 0.5) = -0.075
  assert float(u['w'][0]) == pytest.approx(-0.1, rel=1e-6)
  assert float(u_ref['w'][0]) == pytest.approx(-0.075, rel=1e-6)


# The original recipe's numbers, as make_optimizer takes them (the flags of the same names).
RECIPE = dict(
  learning_rate=0.1,
  lr_decay=1.000004,
  min_learning_rate=1e-6,
  momentum=0.5,
  final_momentum=0.7,
  momentum_saturate_epoch=250,
  adam_b1=0.5,
  adam_b2=0.999,
)


def test_make_optimizer_takes_numbers_and_builds_the_named_recipe():
  params = {'w': jnp.array([1.0, -2.0])}
  g = {'w': jnp.array([0.3, -0.7])}
  tx = optim.make_optimizer('sgd_momentum', **RECIPE, steps_per_epoch=10)
  updates = [tx.update(g, tx.init(params))[0], _paper().update(g, _paper().init(params))[0]]
  np.testing.assert_array_equal(updates[0]['w'], updates[1]['w'])
  with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
    optim.make_optimizer('rmsprop', **RECIPE, steps_per_epoch=10)


def test_the_game_gives_d_its_own_rate_else_g_s():
  """build_gan's two optimisers: G at --learning_rate, D at --d_learning_rate unless that is 0."""
  from gan_jax.game.state import build_gan

  def rates(config):
    gan = build_gan(config, data_dim=4, num_train=100)
    return [float(tx.init({}).hparams['learning_rate']) for tx in (gan.g_tx, gan.d_tx)]

  assert rates(Config(learning_rate=0.25)) == [0.25, 0.25]
  assert rates(Config(learning_rate=0.25, d_learning_rate=0.125)) == [0.25, 0.125]


def test_hyperparameters_live_in_the_state_for_sweeps():
  """A vmapped population with different learning rates steps each member with its own rate."""
  tx = optim.make_optimizer('sgd_momentum', **RECIPE, steps_per_epoch=10)
  params = {'w': jnp.zeros(2)}
  states = jax.vmap(
    lambda lr: tx.init(params)._replace(hparams={**tx.init(params).hparams, 'learning_rate': lr})
  )(jnp.array([0.1, 0.2]))
  grads = {'w': jnp.ones((2, 2))}
  updates, _ = jax.vmap(tx.update)(grads, states)
  np.testing.assert_allclose(np.asarray(updates['w']), [[-0.1, -0.1], [-0.2, -0.2]], rtol=1e-6)


def test_adam_by_flag_keeps_its_hyperparameters_in_state():
  numbers = {**RECIPE, 'learning_rate': 2e-4, 'adam_b1': 0.5}
  state = optim.make_optimizer('adam', **numbers, steps_per_epoch=10).init({'w': jnp.zeros(3)})
  assert float(state.hyperparams['learning_rate']) == pytest.approx(2e-4)
  assert float(state.hyperparams['b1']) == pytest.approx(0.5)


def test_log_decay_is_exact_where_float32_decay_is_not():
  assert float(np.float32(1.000004)) != 1.000004  # why the state keeps log(decay)
  hparams = _paper().init({'w': jnp.zeros(1)}).hparams
  assert float(hparams['log_lr_decay']) == pytest.approx(math.log(1.000004), rel=1e-6)
