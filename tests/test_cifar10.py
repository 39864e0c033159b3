"""The CIFAR-10 models, their data and preprocessing: shapes at the paper's sizes (eval_shape,
nothing allocated), training, multi-device equality and checkpoints at small widths."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data
from gan_jax.data import builders
from gan_jax.data import preprocess
from gan_jax.game import models
from gan_jax.game import steps
from gan_jax.game.models import cifar10_conv, cifar10_fc, layers
from gan_jax.game.state import build_gan, create_train_state, param_count
from gan_jax.loop import train
from gan_jax.runtime import config as config_lib
from gan_jax.runtime import parallel, sampling
from gan_jax.runtime.config import Config
from gan_jax.runtime.errors import ConfigError

SMALL = {
    'cifar10_fc': {'g_hidden': (16, 16), 'd_units': (8, 8)},
    'cifar10_conv': {'g_hidden': (16, 200), 'g_channels': 2, 'd_channels': (4, 4, 8),
                     'd_units': 6},
}
MODULES = {'cifar10_fc': cifar10_fc, 'cifar10_conv': cifar10_conv}


def _config(model, **changes):
  return Config(model=model, **{**models.get(model).recipe, **changes}).validate()


def test_registry_names_defaults_and_config_agree():
  assert models.names() == config_lib.MODELS == ('mnist_mlp', 'cifar10_fc', 'cifar10_conv')
  for name in models.names():
    assert models.get(name).preprocessing == config_lib.DEFAULT_PREPROCESSING[name]
    assert Config(model=name, dataset='cifar10').resolved_preprocessing == (
        'pixels' if name == 'mnist_mlp' else 'gcn')
  with pytest.raises(ValueError, match='unknown model .*registered: mnist_mlp'):
    models.get('dcgan')
  # The MNIST nets are still those of the old models module, under their name.
  g, d = models.get('mnist_mlp').build(Config(), 784)
  assert g == models.Generator(hidden=(1200, 1200), output_dim=784)
  assert d == models.Discriminator()


@pytest.mark.parametrize('changes, message', [
    ({'model': 'cifar10_fc', 'dataset': 'mnist'}, '--model=cifar10_fc takes --dataset=cifar10'),
    ({'model': 'cifar10_conv', 'dataset': 'cifar10', 'd_units': (10, 10)},
     '--d_units shapes --model=mnist_mlp only'),
    ({'dataset': 'cifar10', 'preprocessing': 'gcn'}, 'use --preprocessing=pixels'),
    ({'model': 'vgg'}, '--model=vgg is not one of mnist_mlp, cifar10_fc, cifar10_conv'),
])
def test_config_refuses_mismatched_models(changes, message):
  with pytest.raises(ConfigError, match=message):
    Config(**changes).validate()


def _intermediate_shapes(module, x, **kwargs):
  """{path: shape} of every submodule's output, abstractly."""
  def run():
    params = module.init(jax.random.PRNGKey(0), x, **kwargs)
    _, state = module.apply(params, x, capture_intermediates=True, mutable=['intermediates'],
                            **kwargs)
    return params['params'], state['intermediates']

  params, inter = jax.eval_shape(run)
  shapes = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(inter)[0]:
    keys = [p.key for p in path if hasattr(p, 'key')]
    shapes['/'.join(k for k in keys if k != '__call__')] = leaf.shape
  return params, shapes


def test_cifar10_conv_shapes_and_parameter_count_at_the_papers_sizes():
  gan = build_gan(_config('cifar10_conv'), data_dim=3072, num_train=40_000)
  g_params, g = _intermediate_shapes(gan.generator, jnp.zeros((2, 100)))
  assert g['hidden_0'] == g['hidden_1'] == (2, 8000)
  assert g['deconv'] == (2, 32, 32, 3)  # 3 * (10 - 1) + 5
  assert g['deconv_bias'] == (2, 32, 32, 3) and g[''] == (2, 3072)
  assert g_params['deconv_bias']['bias'].shape == (32, 32, 3)  # untied: channel, row, column
  assert g_params['deconv']['kernel'].shape == (5, 5, 80, 3)
  assert 'bias' not in g_params['deconv']
  d_params, d = _intermediate_shapes(gan.discriminator, jnp.zeros((2, 3072)), train=False)
  # Before pooling (pad, kernel): 32 + 8 - 8 + 1, 16 + 6 - 8 + 1, 7 + 6 - 5 + 1.
  assert [d[f'maxout_conv_{i}/Conv_0'] for i in range(3)] == [
      (2, 33, 33, 64), (2, 15, 15, 64), (2, 9, 9, 384)]
  assert [d[f'maxout_conv_{i}'] for i in range(3)] == [
      (2, 16, 16, 32), (2, 7, 7, 32), (2, 5, 5, 192)]
  assert d['maxout_3/Dense_0'] == (2, 2500) and d['maxout_3'] == (2, 500)
  assert d[''] == (2,)
  assert d_params['maxout_3']['Dense_0']['kernel'].shape == (4800, 2500)
  g_count = 100 * 8000 + 8000 + 8000 * 8000 + 8000 + 5 * 5 * 80 * 3 + 32 * 32 * 3
  d_count = ((8 * 8 * 3 * 64 + 64) + (8 * 8 * 32 * 64 + 64) + (5 * 5 * 32 * 384 + 384)
             + (4800 * 2500 + 2500) + (500 + 1))
  assert (param_count(g_params), param_count(d_params)) == (g_count, d_count)
  assert (g_count, d_count) == (64_825_072, 12_454_073)


def test_cifar10_fc_shapes_and_parameter_count_at_the_papers_sizes():
  gan = build_gan(_config('cifar10_fc'), data_dim=3072, num_train=40_000)
  g_params, g = _intermediate_shapes(gan.generator, jnp.zeros((2, 100)))
  assert (g['hidden_0'], g['hidden_1'], g['output']) == ((2, 8000), (2, 8000), (2, 3072))
  d_params, d = _intermediate_shapes(gan.discriminator, jnp.zeros((2, 3072)), train=False)
  assert (d['maxout_0/Dense_0'], d['maxout_0'], d['maxout_1']) == (
      (2, 8000), (2, 1600), (2, 1600))
  g_count = (100 * 8000 + 8000) + (8000 * 8000 + 8000) + (8000 * 3072 + 3072)
  d_count = (3072 * 8000 + 8000) + (1600 * 8000 + 8000) + (1600 + 1)
  assert (param_count(g_params), param_count(d_params)) == (g_count, d_count)
  assert (g_count, d_count) == (89_395_072, 37_393_601)


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_init_ranges_dropout_and_linear_output(model):
  gan = build_gan(_config(model), data_dim=3072, num_train=40_000, **SMALL[model])
  state = jax.jit(lambda: create_train_state(gan, 0, None))()
  g, d = state.g_params, state.d_params
  g_hidden = np.concatenate([np.ravel(g[f'hidden_{i}']['kernel']) for i in range(2)])
  assert 0.049 < np.abs(g_hidden).max() <= 0.05
  d_kernels = np.concatenate([np.ravel(x) for path, x in
                              jax.tree_util.tree_flatten_with_path(d)[0]
                              if path[-1].key == 'kernel'])
  assert 0.0049 < np.abs(d_kernels).max() <= 0.005
  out = g['output']['kernel'] if model == 'cifar10_fc' else g['deconv']['kernel']
  assert np.abs(out).max() <= (0.5 if model == 'cifar10_fc' else 0.05)
  assert np.abs(out).max() > (0.45 if model == 'cifar10_fc' else 0.04)
  biases = [x for path, x in jax.tree_util.tree_flatten_with_path((g, d))[0]
            if path[-1].key == 'bias']
  assert biases and not any(np.any(np.asarray(b)) for b in biases)
  assert gan.output == 'linear' and gan.preprocessing == 'gcn'
  assert models.get(model).recipe['noise_prior'] == 'normal'
  # Linear output: G(z) is not squashed into [0, 1] (a large z leaves it).
  x = jax.jit(gan.generate)(g, 30.0 * jnp.ones((1, 100)))
  assert float(jnp.max(jnp.abs(x))) > 0 and (model == 'cifar10_fc') <= (float(jnp.max(x)) > 1)


def test_convnet_pooling_overhangs_as_cuda_convnet():
  assert [layers.pooled_size(n, p, s) for n, p, s in ((33, 4, 2), (15, 4, 2), (9, 2, 2))] == [
      16, 7, 5]
  x = jnp.arange(5.0).reshape(1, 5, 1, 1) * jnp.ones((1, 1, 5, 1))
  # Windows of 2 at stride 2 over 5 rows: [0, 1], [2, 3] and the overhanging [4].
  out = layers.max_pool_convnet(x, 2, 2)
  assert out.shape == (1, 3, 3, 1)
  np.testing.assert_array_equal(np.asarray(out[0, :, 0, 0]), [1.0, 3.0, 4.0])
  np.testing.assert_array_equal(np.asarray(layers.max_pool_convnet(-x - 1, 2, 2)[0, :, 0, 0]),
                                [-1.0, -3.0, -5.0])


def test_gcn_closed_form_and_display():
  x = np.array([[0.0, 2.0, 4.0, 6.0], [3.0, 3.0, 3.0, 3.0]], np.float32)
  out = np.asarray(preprocess.gcn(jnp.asarray(x)))
  # Row 0: centred [-3, -1, 1, 3], norm sqrt(20).
  np.testing.assert_allclose(out[0], 55 * np.array([-3, -1, 1, 3]) / math.sqrt(20), rtol=1e-6)
  np.testing.assert_array_equal(out[1], 0.0)  # a constant image is only centred
  assert np.linalg.norm(out[0]) == pytest.approx(55.0, rel=1e-6)
  # Scale invariant: [0, 255] and [0, 1] pixels give the same.
  np.testing.assert_allclose(np.asarray(preprocess.gcn(jnp.asarray(x / 255))), out, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(preprocess.gcn(x, xp=np), out, rtol=1e-6)
  shown = preprocess.stretch(out)
  np.testing.assert_allclose(shown[0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
  np.testing.assert_array_equal(shown[1], 0.5)
  # Showing a GCN'd real image is stretching its raw pixels.
  np.testing.assert_allclose(shown, preprocess.stretch(x), rtol=1e-6)
  gan = build_gan(_config('cifar10_fc'), data_dim=4, num_train=10, **SMALL['cifar10_fc'])
  np.testing.assert_allclose(np.asarray(gan.prepare(jnp.asarray(x * 40, jnp.uint8))), out,
                             rtol=1e-5)
  pixels = build_gan(_config('cifar10_fc', preprocessing='pixels'), data_dim=4, num_train=10,
                     **SMALL['cifar10_fc'])
  np.testing.assert_allclose(np.asarray(pixels.prepare(jnp.asarray(x * 40, jnp.uint8))),
                             (x * 40).astype(np.uint8) / np.float32(255), rtol=1e-6)
  assert 'stretched' in preprocess.display_note('gcn')


def _mock_batches(directory, per_file=12, test=8, seed=0):
  """cifar-10-batches-bin with random records; returns the train images in file order."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True)
  train_images = []
  for name in (*builders.CIFAR10_TRAIN_FILES, builders.CIFAR10_TEST_FILE):
    n = test if name == builders.CIFAR10_TEST_FILE else per_file
    planes = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
    (directory / name).write_bytes(np.concatenate([labels, planes.reshape(n, -1)], 1).tobytes())
    if name != builders.CIFAR10_TEST_FILE:
      train_images.append(planes.transpose(0, 2, 3, 1))
  return np.concatenate(train_images)


@pytest.fixture
def mock_cifar(tmp_path, monkeypatch):
  """60 mock CIFAR-10 training images cut 48 / 12 (the original's 40000 / 10000, scaled)."""
  monkeypatch.setitem(builders.NUM_TRAIN, 'cifar10', 48)
  data.loader.clear_cache()
  images = _mock_batches(tmp_path / 'raw' / 'cifar-10-batches-bin')
  yield str(tmp_path / 'raw'), images
  data.loader.clear_cache()


def test_cifar10_split_is_the_original_configs(mock_cifar):
  assert builders.Cifar10Bin.BUILDER_CONFIGS[0].num_train == 40_000
  manual_dir, images = mock_cifar
  splits = {s: data.load_split('cifar10', s, manual_dir=manual_dir) for s in data.SPLITS}
  assert {s: x.num_examples for s, x in splits.items()} == {
      'train': 48, 'validation': 12, 'test': 8}
  np.testing.assert_array_equal(splits['train'].images, images[:48])
  np.testing.assert_array_equal(splits['validation'].images, images[48:])


def test_tfds_mock_data_feeds_the_model():
  """TFDS's prepared `cifar10`, mocked: its examples go through GCN into D and G's shapes."""
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
    source = tfds.data_source('cifar10', split='train')
    images = np.stack([source[i]['image'] for i in range(16)])
  assert images.shape == (16, 32, 32, 3) and images.dtype == np.uint8
  gan = build_gan(_config('cifar10_conv'), data_dim=3072, num_train=16, **SMALL['cifar10_conv'])
  state = create_train_state(gan, 0, None)
  x = gan.prepare(jnp.asarray(images.reshape(16, -1)))
  np.testing.assert_allclose(np.linalg.norm(np.asarray(x), axis=1), 55.0, rtol=1e-4)
  assert gan.discriminate(state.d_params, x).shape == (16,)


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_a_few_steps_lower_d_loss_on_a_fixed_batch(model):
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (32, 3072), dtype=np.uint8))
  config = _config(model, batch_size=32, learning_rate=0.1)
  gan = build_gan(config, data_dim=3072, num_train=32, **SMALL[model])
  state = create_train_state(gan, 0, None)
  z = gan.sample_noise(jax.random.PRNGKey(7), 32)

  def d_loss(state):
    from gan_jax.game import losses
    real = gan.discriminate(state.d_params, gan.prepare(images))
    fake = gan.discriminate(state.d_params, gan.generate(state.g_params, z))
    return float(losses.discriminator_loss(real, fake))

  assert d_loss(state) == pytest.approx(math.log(2), abs=1e-3)  # D(x) ~ 1/2 at U(±.005) init
  # Through three U(±.005) conv layers D's gradients are ~1e-7: a few steps cannot show them.
  # D starts at U(±.1) here, so that 20 steps move it measurably.
  state = state.replace(d_params=jax.tree.map(lambda x: 20 * x, state.d_params))
  before = d_loss(state)
  state, metrics = jax.jit(lambda s, d: steps.train_steps(s, d, gan=gan, num_steps=20))(
      state, images)
  assert np.all(np.isfinite(np.asarray(metrics['d_loss'])))
  assert d_loss(state) < before - 0.1


def test_two_devices_train_the_conv_model_as_one():
  assert jax.device_count() >= 2, 'conftest forces 4 CPU devices'
  config = _config('cifar10_conv', batch_size=8, learning_rate=0.05)
  gan = build_gan(config, data_dim=3072, num_train=32, **SMALL['cifar10_conv'])
  images = np.random.default_rng(1).integers(0, 256, (32, 3072), dtype=np.uint8)

  def run(devices):
    mesh = parallel.make_mesh(devices)
    init = jax.jit(lambda: create_train_state(gan, 0, None),
                   out_shardings=parallel.replicated(mesh))
    state, _ = parallel.compile_train_steps(gan, mesh, 5)(
        init(), parallel.put_replicated(images, mesh))
    return jax.device_get(state)

  one, two = run(jax.devices()[:1]), run(jax.devices()[:2])
  for a, b in ((one.g_params, two.g_params), (one.d_params, two.d_params)):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), a, b)
  assert int(two.step) == 5


@pytest.mark.parametrize('model', ['mnist_mlp', 'cifar10_fc', 'cifar10_conv'])
def test_checkpoint_of_each_model_restores_and_samples(model, mock_cifar, tmp_path, monkeypatch):
  for name, widths in SMALL.items():
    for key, value in widths.items():
      monkeypatch.setitem(MODULES[name].WIDTHS, key, value)
  manual_dir, _ = mock_cifar
  extra = {} if model == 'mnist_mlp' else models.get(model).recipe
  config = Config(**{**extra, 'model': model, 'dataset': 'cifar10', 'manual_dir': manual_dir,
                     'num_steps': 2, 'batch_size': 8, 'steps_per_call': 1, 'log_every': 1,
                     'checkpoint_every': 2, 'sample_every': 2, 'num_grid_samples': 4,
                     'g_hidden': (16,) if model == 'mnist_mlp' else Config.g_hidden,
                     'd_units': (8,) if model == 'mnist_mlp' else Config.d_units,
                     'd_keep_probs': (0.8, 0.5) if model == 'mnist_mlp' else Config.d_keep_probs})
  workdir = str(tmp_path / model)
  state = train.train_and_evaluate(config, workdir, mesh=parallel.make_mesh(jax.devices()[:1]))
  restored = sampling.restore(workdir)
  assert restored.step == 2 and restored.config == config
  assert restored.image_shape == (32, 32, 3)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored.g_params),
               jax.device_get(state.g_params))
  samples = restored.sample(5, seed=3)
  assert samples.shape == (5, 32, 32, 3) and samples.dtype == np.float32
  assert samples.min() >= 0 and samples.max() <= 1
  if model != 'mnist_mlp':  # GCN: each sample is shown stretched onto exactly [0, 1]
    np.testing.assert_allclose(samples.reshape(5, -1).min(1), 0.0, atol=1e-6)
    np.testing.assert_allclose(samples.reshape(5, -1).max(1), 1.0, atol=1e-6)


def test_evaluation_matmuls_ask_for_full_float32_precision():
  """TF32/bf16 defaults on accelerators would change the numbers; CPU shows the request in HLO."""
  from gan_jax.evaluation import classifier, distances, metrics, parzen
  q, r = jnp.ones((8, 3072)), jnp.ones((16, 3072))
  lowered = {
      'nearest': distances._nearest.lower(q, r, k=1, bq=8, br=16),
      'within_any_ball': distances._within_any_ball.lower(q, r, jnp.ones(16), bq=8, br=16),
      'parzen': parzen._parzen_terms.lower(q, r, jnp.ones(2), bq=8, bc=16),
      'kid': metrics._kid_row_sums.lower(q, r, jnp.zeros((2, 4), jnp.int32),
                                         jnp.zeros((2, 4), jnp.int32)),
      'classifier': classifier._apply.lower(
          classifier.MLP(), jax.eval_shape(classifier.MLP().init, jax.random.PRNGKey(0), q)[
              'params'], q),
  }
  for name, low in lowered.items():
    text = low.as_text()
    dots = text.count('stablehlo.dot_general')
    assert dots and text.count('precision = [HIGHEST, HIGHEST]') == dots, name
  plain = jax.jit(lambda a, b: a @ b.T).lower(q, r).as_text()
  assert 'HIGHEST' not in plain  # the default is not it: the argument is what asks


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_flagfile_is_the_models_original_recipe(model):
  from tests.helpers import ROOT
  from experiments.flags import config_from_args
  path = f'{ROOT}/experiments/configs/{model}.flags'
  config = config_from_args([f'--flagfile={path}'])
  assert config.model == model and config.resolved_preprocessing == 'gcn'
  assert {k: getattr(config, k) for k in models.get(model).recipe} == models.get(model).recipe
  with open(path) as f:
    header = f.read()
  assert 'GPU' in header and 'FLOP' in header and 'estimated' in header


def test_resources_count_each_models_parameters():
  from gan_jax.runtime import resources
  assert resources.model_params(_config('cifar10_conv'), 3072) == 64_825_072 + 12_454_073
  assert resources.model_params(_config('cifar10_fc'), 3072) == 89_395_072 + 37_393_601
  assert resources.model_params(Config(), 784) == (
      100 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 784 + 784
      + 784 * 1200 + 1200 + 240 * 1200 + 1200 + 241)
