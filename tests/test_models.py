"""The paper's networks: shapes, initialisation, maxout, dropout, output bias."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.game import models
from gan_jax.game.state import build_gan, create_train_state, param_count
from gan_jax.runtime.config import Config


def test_paper_architecture_shapes_and_init_ranges():
  gan = build_gan(Config(), data_dim=784, num_train=50_000)
  state = create_train_state(gan, 0, None)
  g, d = state.g_params, state.d_params
  assert [g[f'hidden_{i}']['kernel'].shape for i in range(2)] == [(100, 1200), (1200, 1200)]
  assert g['output']['kernel'].shape == (1200, 784)
  assert d['maxout_0']['Dense_0']['kernel'].shape == (784, 240 * 5)
  assert d['maxout_1']['Dense_0']['kernel'].shape == (240, 240 * 5)
  assert d['output']['kernel'].shape == (240, 1)
  assert param_count(g) == 100 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 784 + 784
  g_kernels = np.concatenate([np.ravel(g[k]['kernel']) for k in g])
  d_kernel = np.asarray(d['maxout_0']['Dense_0']['kernel'])
  assert np.abs(g_kernels).max() <= 0.05 and np.abs(g_kernels).max() > 0.049
  assert np.abs(d_kernel).max() <= 0.005 and np.abs(d_kernel).max() > 0.0049
  # U(-a, a) has standard deviation a / sqrt(3).
  assert np.std(g_kernels) == pytest.approx(0.05 / math.sqrt(3), rel=0.01)
  for biases in (g['hidden_0']['bias'], d['maxout_0']['Dense_0']['bias'], d['output']['bias']):
    assert not np.any(np.asarray(biases))


def test_output_bias_is_logit_of_pixel_means_so_initial_samples_match_the_marginals():
  means = np.array([0.0, 0.25, 0.5, 1.0])
  bias = models.marginal_logits(means)
  np.testing.assert_allclose(bias[1:3], [math.log(1 / 3), 0.0], atol=1e-6)
  np.testing.assert_allclose(
    bias[[0, 3]], [math.log(1e-7 / (1 - 1e-7)), math.log((1 - 1e-7) / 1e-7)], rtol=1e-6
  )
  # With zero-scale weights G(z) is exactly sigmoid(bias) = the clipped means.
  gen = models.Generator(hidden=(3,), output_dim=4, init_scale=1e-30)
  params = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))['params']
  params['output']['bias'] = jnp.asarray(bias)
  out = gen.apply({'params': params}, jnp.ones((1, 2)))
  np.testing.assert_allclose(np.asarray(out[0]), np.clip(means, 1e-7, 1 - 1e-7), atol=1e-6)


def test_uniform_noise_has_unit_variance_on_sqrt3_interval():
  z = np.asarray(models.sample_noise(jax.random.PRNGKey(0), (100_000,), 'uniform'))
  assert z.min() >= -math.sqrt(3) and z.max() <= math.sqrt(3)
  assert z.var() == pytest.approx(1.0, abs=0.01)
  with pytest.raises(ValueError):
    models.sample_noise(jax.random.PRNGKey(0), (2,), 'cauchy')


def test_maxout_takes_the_max_of_consecutive_pieces():
  layer = models.Maxout(units=2, pieces=3, kernel_init=jax.nn.initializers.zeros)
  params = layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)))['params']
  params['Dense_0']['bias'] = jnp.array([1.0, 5.0, 2.0, -1.0, -3.0, -2.0])
  out = layer.apply({'params': params}, jnp.zeros((1, 1)))
  np.testing.assert_array_equal(np.asarray(out), [[5.0, -1.0]])


def test_discriminator_dropout_keep_rates_scaling_and_independent_masks():
  disc = models.Discriminator(units=(4,), pieces=1, init_scale=0.1, keep_probs=(0.8, 0.5))
  x = jnp.ones((20_000, 1))
  params = disc.init(jax.random.PRNGKey(0), x[:1], train=False)['params']

  def dropped_input(x, key):
    # The first layer's dropout, seen through a module that only applies it.
    import flax.linen as nn

    return nn.Dropout(1 - 0.8, deterministic=False).apply({}, x, rngs={'dropout': key})

  kept = np.asarray(dropped_input(x, jax.random.PRNGKey(1)))
  assert set(np.unique(kept)) == {0.0, 1.25}  # keep 0.8, scale 1/0.8
  assert (kept > 0).mean() == pytest.approx(0.8, abs=0.01)
  # Evaluation runs without dropout: deterministic, no rng needed.
  a = disc.apply({'params': params}, x[:4], train=False)
  b = disc.apply({'params': params}, x[:4], train=False)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Training pass: identical inputs get different masks row by row.
  t = np.asarray(
    disc.apply({'params': params}, x[:64], train=True, rngs={'dropout': jax.random.PRNGKey(2)})
  )
  assert len(np.unique(t)) > 4
