"""The pure training step: its math against a direct computation, and its invariances."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.base.config import Config
from gan_jax.game import losses, steps
from gan_jax.game.state import build_gan, create_train_state
from gan_jax.runtime import parallel

TINY = dict(g_hidden=(16,), d_units=(8, 8), d_pieces=2, noise_dim=4, batch_size=8)


def _setup(num_train=64, **overrides):
  config = Config(**{**TINY, **overrides})
  gan = build_gan(config, data_dim=12, num_train=num_train)
  state = create_train_state(gan, config.seed, None)
  data = jax.random.randint(jax.random.PRNGKey(5), (num_train, 12), 0, 256).astype(jnp.uint8)
  return config, gan, state, data


def _batch(config, key):
  return jax.random.uniform(key, (1, config.batch_size, 12))


@pytest.mark.parametrize('g_loss', ['non_saturating', 'minimax'])
def test_simultaneous_step_uses_gradients_at_the_same_parameters(g_loss):
  config, gan, state, _ = _setup(g_loss=g_loss)
  x = _batch(config, jax.random.PRNGKey(1))
  new_state, metrics = jax.jit(functools.partial(steps.train_step, gan=gan))(state, x)

  # Direct computation: the same noise and dropout keys, two separate gradients at `state`.
  z_key, dropout_key = jax.random.split(jax.random.fold_in(state.rng, 0))
  z = gan.sample_noise(z_key, config.batch_size)

  real_key, fake_key = jax.random.split(dropout_key)

  def logits(g_params, d_params):
    return (
      gan.discriminate(d_params, x[0], dropout_key=real_key),
      gan.discriminate(d_params, gan.generate(g_params, z), dropout_key=fake_key),
    )

  d_loss_fn = lambda d: losses.discriminator_loss(*logits(state.g_params, d))
  g_loss_fn = lambda g: losses.GENERATOR_LOSSES[g_loss](logits(g, state.d_params)[1])
  d_grads = jax.jit(jax.grad(d_loss_fn))(state.d_params)
  g_grads = jax.jit(jax.grad(g_loss_fn))(state.g_params)
  d_upd, _ = gan.d_tx.update(d_grads, state.d_opt_state)
  g_upd, _ = gan.g_tx.update(g_grads, state.g_opt_state)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
    new_state.d_params,
    optax.apply_updates(state.d_params, d_upd),
  )
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
    new_state.g_params,
    optax.apply_updates(state.g_params, g_upd),
  )
  assert float(metrics['d_loss']) == pytest.approx(float(d_loss_fn(state.d_params)), rel=1e-6)
  assert float(metrics['g_loss']) == pytest.approx(float(g_loss_fn(state.g_params)), rel=1e-6)
  assert int(new_state.step) == 1


def test_alternating_step_takes_k_d_steps_then_g_against_the_updated_d():
  config, gan, state, _ = _setup(update='alternating', d_steps=3)
  xs = jax.random.uniform(jax.random.PRNGKey(1), (3, config.batch_size, 12))
  new_state, metrics = jax.jit(functools.partial(steps.train_step, gan=gan))(state, xs)

  keys = jax.random.split(jax.random.fold_in(state.rng, 0), 4)
  d_params, d_opt = state.d_params, state.d_opt_state
  for i in range(3):
    z_key, dropout_key = jax.random.split(keys[i])
    z = gan.sample_noise(z_key, config.batch_size)
    fake = gan.generate(state.g_params, z)

    real_key, fake_key = jax.random.split(dropout_key)

    def d_loss_fn(d):
      return losses.discriminator_loss(
        gan.discriminate(d, xs[i], dropout_key=real_key),
        gan.discriminate(d, fake, dropout_key=fake_key),
      )

    upd, d_opt = gan.d_tx.update(jax.jit(jax.grad(d_loss_fn))(d_params), d_opt)
    d_params = optax.apply_updates(d_params, upd)
  z_key, dropout_key = jax.random.split(keys[3])
  z = gan.sample_noise(z_key, config.batch_size)
  g_loss_fn = lambda g: losses.generator_loss_non_saturating(
    gan.discriminate(d_params, gan.generate(g, z), dropout_key=dropout_key)
  )
  upd, _ = gan.g_tx.update(jax.jit(jax.grad(g_loss_fn))(state.g_params), state.g_opt_state)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
    new_state.d_params,
    d_params,
  )
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
    new_state.g_params,
    optax.apply_updates(state.g_params, upd),
  )
  assert int(new_state.d_opt_state.count) == 3 and int(new_state.g_opt_state.count) == 1
  assert float(metrics['g_loss']) == pytest.approx(float(g_loss_fn(state.g_params)), rel=1e-6)


@pytest.mark.parametrize('update, d_steps', [('simultaneous', 1), ('alternating', 2)])
def test_fused_steps_do_not_depend_on_how_they_are_split(update, d_steps):
  """8 steps in one call == 4 + 4 steps, the second chunk starting mid-epoch and crossing into
  the next: bit for bit (what makes resume exact). Two programs compiled, not three."""
  _, gan, state, data = _setup(update=update, d_steps=d_steps, num_train=40)  # 5 batches/epoch
  run = lambda s, n: jax.jit(functools.partial(steps.train_steps, gan=gan, num_steps=n))(s, data)
  whole, m_whole = run(state, 8)
  part, m1 = run(state, 4)
  part, m2 = run(part, 4)
  jax.tree.map(np.testing.assert_array_equal, whole, part)
  np.testing.assert_array_equal(m_whole['d_loss'], np.concatenate([m1['d_loss'], m2['d_loss']]))


def test_each_epoch_visits_every_example_once():
  """Minibatches follow one permutation per epoch: record them through a fake step."""
  _, gan, state, _ = _setup(num_train=40)
  data = jnp.repeat(jnp.arange(40, dtype=jnp.uint8)[:, None], 12, axis=1)

  def spy_step(state, batch, **kwargs):
    del kwargs
    return state.replace(step=state.step + 1), {'ids': jnp.round(batch[0, :, 0] * 255)}

  orig = steps.train_step
  steps.train_step = spy_step
  try:
    _, metrics = jax.jit(functools.partial(steps.train_steps, gan=gan, num_steps=10))(state, data)
  finally:
    steps.train_step = orig
  ids = np.asarray(metrics['ids']).astype(int)  # [10 steps, 8]
  for epoch in range(2):
    assert sorted(ids[epoch * 5 : (epoch + 1) * 5].ravel()) == list(range(40))
  assert not np.array_equal(ids[:5], ids[5:])  # a fresh order each epoch


def test_one_and_four_devices_give_the_same_parameters():
  assert jax.device_count() >= 4, 'conftest forces 4 CPU devices'
  config, gan, _, data = _setup(batch_size=16)

  def run(devices):
    mesh = parallel.make_mesh(devices)
    init = jax.jit(
      lambda: create_train_state(gan, 0, None), out_shardings=parallel.replicated(mesh)
    )
    f = parallel.compile_train_steps(gan, mesh, 20)
    state, _ = f(init(), parallel.put_replicated(np.asarray(data), mesh))
    return state

  one, four = run(jax.devices()[:1]), run(jax.devices()[:4])
  assert len(four.g_params['output']['kernel'].sharding.device_set) == 4
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), one.g_params, four.g_params
  )
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), one.d_params, four.d_params
  )
  assert int(one.step) == int(four.step) == 20


def test_batch_size_must_divide_over_devices():
  from gan_jax.base.errors import ConfigError

  mesh = parallel.make_mesh(jax.devices()[:4])
  with pytest.raises(ConfigError, match='divisible by the number of devices'):
    parallel.check_batch_size(10, mesh)
