"""The paper's networks: shapes, initialisation, maxout, dropout, output bias."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.base.config import Config
from gan_jax.game import models
from gan_jax.game.state import build_gan, create_train_state, param_count


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


# The original configs' discriminator dropout (goodfeli/adversarial mnist.yaml,
# cifar10_fully_connected.yaml, cifar10_convolutional.yaml, each AdversaryCost2's
# `discriminator_input_include_probs` {first layer: .8} and
# `discriminator_default_input_include_prob` .5, with `discriminator_input_scales` {first layer:
# 1.25} and `discriminator_default_input_scale` 2.): the layer each dropout feeds, and its keep
# probability.
ORIGINAL_D_DROPOUT = {
  'mnist_mlp': (('maxout_0', 0.8), ('maxout_1', 0.5), ('output', 0.5)),
  'cifar10_fc': (('maxout_0', 0.8), ('maxout_1', 0.5), ('output', 0.5)),
  'cifar10_conv': (
    ('maxout_conv_0', 0.8),
    ('maxout_conv_1', 0.5),
    ('maxout_conv_2', 0.5),
    ('maxout_3', 0.5),
    ('output', 0.5),
  ),
}
# Narrow layers, so that every layer's dropout runs in milliseconds (mnist_mlp: the config's).
SMALL = {
  'mnist_mlp': {},
  'cifar10_fc': {'g_hidden': (4, 4), 'd_units': (8, 8)},
  'cifar10_conv': {'g_hidden': (4, 100), 'g_channels': 1, 'd_channels': (4, 4, 8), 'd_units': 6},
}


def _layer_calls(discriminator, params, x, key):
  """D's training pass (dropout key `key`) and evaluation pass, compiled as one program: each
  the logits and, in call order, (module, input, output) of each of D's own layers."""
  modules = ([], [])

  def one_pass(params, x, train, key):
    arrays = []

    def record(call, args, call_kwargs, context):
      out = call(*args, **call_kwargs)
      if context.method_name == '__call__' and len(context.module.scope.path) == 1:
        modules[not train].append(context.module)
        arrays.append((args[0], out))
      return out

    with nn.intercept_methods(record):
      rngs = {'dropout': key} if train else None  # evaluation needs no rng
      return discriminator.apply({'params': params}, x, train=train, rngs=rngs), arrays

  both = jax.jit(lambda p, x, key: (one_pass(p, x, True, key), one_pass(p, x, False, None)))
  return [
    (logits, [(m, np.asarray(a), np.asarray(b)) for m, (a, b) in zip(mods, arrays)])
    for mods, (logits, arrays) in zip(modules, jax.device_get(both(params, x, key)))
  ]


# The conditional models' D takes y as well: tests/test_conditional.py checks their dropout.
@pytest.mark.parametrize('name', [n for n in models.names() if not models.get(n).conditional])
def test_discriminator_drops_each_layers_input_at_the_original_rates(name):
  data_dim = 784 if name == 'mnist_mlp' else 3072
  _, disc = models.get(name).build(Config(d_units=(8, 8)), data_dim, **SMALL[name])
  n = 256
  x = 1.0 + jax.random.uniform(jax.random.PRNGKey(0), (n, data_dim))  # no input is 0
  # Any weights will do: U(-0.1, 0.1) of the right shapes, without compiling D's init.
  shapes = jax.eval_shape(functools.partial(disc.init, train=False), jax.random.PRNGKey(1), x[:1])
  leaves, tree = jax.tree.flatten(shapes['params'])
  rng = np.random.default_rng(1)
  params = tree.unflatten(
    [rng.uniform(-0.1, 0.1, leaf.shape).astype(np.float32) for leaf in leaves]
  )
  (logits, calls), (eval_logits, eval_calls) = _layer_calls(disc, params, x, jax.random.PRNGKey(2))
  expected = ORIGINAL_D_DROPOUT[name]
  # A dropout before each layer, and nowhere else.
  assert [type(m).__name__ == 'Dropout' for m, _, _ in calls] == [True, False] * len(expected)
  assert [m.name for m, _, _ in calls[1::2]] == [layer for layer, _ in expected]
  previous = np.asarray(x)
  for (drop, d_in, d_out), (_, l_in, l_out), (layer, keep) in zip(
    calls[0::2], calls[1::2], expected
  ):
    assert drop.rate == pytest.approx(1 - keep, abs=1e-12), layer
    # It drops what the layer below gave (D's input for the first) and feeds `layer`.
    np.testing.assert_array_equal(d_in.reshape(n, -1), previous.reshape(n, -1))
    np.testing.assert_array_equal(l_in, d_out)
    # Kept inputs are scaled by 1/keep (the original's 1.25 and 2), dropped ones are 0. (A
    # maxout unit whose inputs were all dropped gives 0: those say nothing of this mask.)
    seen = d_in != 0
    assert seen.mean() > 0.9, layer
    kept = d_out != 0
    np.testing.assert_array_equal(d_out[~seen], 0.0)
    np.testing.assert_allclose(d_out[kept], d_in[kept] / keep, rtol=1e-6)
    rate = kept[seen].mean()
    assert rate == pytest.approx(keep, abs=5 * math.sqrt(keep * (1 - keep) / seen.sum())), layer
    # Each example gets its own mask.
    masks = {row.tobytes() for row in kept.reshape(n, -1)}
    assert len(masks) > min(n, 2 ** kept[0].size) // 4, layer
    previous = l_out
  np.testing.assert_array_equal(logits, previous[..., 0])
  # Evaluation drops nothing: every dropout passes its input through, and no rng is needed.
  assert [m.name for m, _, _ in eval_calls] == [m.name for m, _, _ in calls]
  for drop, d_in, d_out in eval_calls[0::2]:
    np.testing.assert_array_equal(d_out, d_in)
  assert not np.allclose(eval_logits, logits)
