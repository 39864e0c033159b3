"""The CIFAR-10 models, their data and preprocessing: shapes at the paper's sizes (eval_shape,
nothing allocated), training, multi-device equality and checkpoints at small widths; the
evaluation of colour images (the convnet classifier, every metric, the reference row, the CLI).

Speed: XLA on CPU takes ~20 s to compile the conv model's training step whatever its widths, so
the module compiles each program once: `runs` builds, per model, the GAN, initial state and
one-step train call of the checkpoint runs' config, which the training tests share and
lone.train_and_evaluate then finds in the session's compilation cache; `checkpoints` trains each
model's checkpoint once for every test that restores one.
"""

import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data
from gan_jax.base import config as config_lib
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError
from gan_jax.data import builders
from gan_jax.game import models, preprocess
from gan_jax.game.models import cifar10_conv, cifar10_fc, layers
from gan_jax.game.state import build_gan, create_train_state, param_count
from gan_jax.loop import assembly, lone
from gan_jax.runtime import parallel, sampling
from tests.tiny_catalog import TinyCifar10

SMALL = {
  'cifar10_fc': {'g_hidden': (16, 16), 'd_units': (8, 8)},
  'cifar10_conv': {'g_hidden': (16, 200), 'g_channels': 2, 'd_channels': (4, 4, 8), 'd_units': 6},
}
MODULES = {'cifar10_fc': cifar10_fc, 'cifar10_conv': cifar10_conv}


def _config(model, **changes):
  return Config(model=model, **{**models.get(model).recipe, **changes})


def test_registry_names_defaults_and_config_agree():
  # One table: every row of config.MODELS has networks, and no networks come without a row.
  assert models.names() == tuple(config_lib.MODELS)
  assert models.names() == (
    'mnist_mlp',
    'cifar10_fc',
    'cifar10_conv',
    'mnist_cgan',
    'mnist_mlp_cgan',
  )
  with pytest.raises(ValueError, match="'dcgan' has no row in gan_jax.base.config.MODELS"):
    models.register(models.Model('dcgan', models.get('mnist_mlp').build))
  for name in models.names():
    assert models.get(name).output == ('linear' if name.startswith('cifar10') else 'sigmoid')
    assert Config(model=name, dataset='cifar10').resolved_preprocessing == (
      'pixels' if models.get(name).output == 'sigmoid' else 'gcn'
    )
  with pytest.raises(ValueError, match='unknown model .*registered: mnist_mlp'):
    models.get('dcgan')
  # The MNIST nets are still those of the old models module, under their name.
  g, d = models.get('mnist_mlp').build(Config(), 784)
  assert g == models.Generator(hidden=(1200, 1200), output_dim=784)
  assert d == models.Discriminator()


@pytest.mark.parametrize(
  'changes, message',
  [
    ({'model': 'cifar10_fc', 'dataset': 'mnist'}, '--model=cifar10_fc takes --dataset=cifar10'),
    (
      {'model': 'cifar10_conv', 'dataset': 'cifar10', 'd_units': (10, 10)},
      '--d_units shapes --model=mnist_mlp or mnist_mlp_cgan only',
    ),
    ({'dataset': 'cifar10', 'preprocessing': 'gcn'}, 'use --preprocessing=pixels'),
    ({'model': 'vgg'}, '--model=vgg is not one of mnist_mlp, cifar10_fc, cifar10_conv'),
  ],
)
def test_config_refuses_mismatched_models(changes, message):
  with pytest.raises(ConfigError, match=message):
    Config(**changes)


def _intermediate_shapes(module, x, **kwargs):
  """{path: shape} of every submodule's output, abstractly."""

  def run():
    params = module.init(jax.random.PRNGKey(0), x, **kwargs)
    _, state = module.apply(
      params, x, capture_intermediates=True, mutable=['intermediates'], **kwargs
    )
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
    (2, 33, 33, 64),
    (2, 15, 15, 64),
    (2, 9, 9, 384),
  ]
  assert [d[f'maxout_conv_{i}'] for i in range(3)] == [
    (2, 16, 16, 32),
    (2, 7, 7, 32),
    (2, 5, 5, 192),
  ]
  assert d['maxout_3/Dense_0'] == (2, 2500) and d['maxout_3'] == (2, 500)
  assert d[''] == (2,)
  assert d_params['maxout_3']['Dense_0']['kernel'].shape == (4800, 2500)
  g_count = 100 * 8000 + 8000 + 8000 * 8000 + 8000 + 5 * 5 * 80 * 3 + 32 * 32 * 3
  d_count = (
    (8 * 8 * 3 * 64 + 64)
    + (8 * 8 * 32 * 64 + 64)
    + (5 * 5 * 32 * 384 + 384)
    + (4800 * 2500 + 2500)
    + (500 + 1)
  )
  assert (param_count(g_params), param_count(d_params)) == (g_count, d_count)
  assert (g_count, d_count) == (64_825_072, 12_454_073)


def test_cifar10_fc_shapes_and_parameter_count_at_the_papers_sizes():
  gan = build_gan(_config('cifar10_fc'), data_dim=3072, num_train=40_000)
  g_params, g = _intermediate_shapes(gan.generator, jnp.zeros((2, 100)))
  assert (g['hidden_0'], g['hidden_1'], g['output']) == ((2, 8000), (2, 8000), (2, 3072))
  d_params, d = _intermediate_shapes(gan.discriminator, jnp.zeros((2, 3072)), train=False)
  assert (d['maxout_0/Dense_0'], d['maxout_0'], d['maxout_1']) == ((2, 8000), (2, 1600), (2, 1600))
  g_count = (100 * 8000 + 8000) + (8000 * 8000 + 8000) + (8000 * 3072 + 3072)
  d_count = (3072 * 8000 + 8000) + (1600 * 8000 + 8000) + (1600 + 1)
  assert (param_count(g_params), param_count(d_params)) == (g_count, d_count)
  assert (g_count, d_count) == (89_395_072, 37_393_601)


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_init_ranges_and_linear_output(model, runs):
  """(D's dropout, for every model: tests/test_models.py.)"""
  gan = runs(model).gan
  g, d = runs(model).state.g_params, runs(model).state.d_params
  g_hidden = np.concatenate([np.ravel(g[f'hidden_{i}']['kernel']) for i in range(2)])
  assert 0.049 < np.abs(g_hidden).max() <= 0.05
  d_kernels = np.concatenate(
    [
      np.ravel(x)
      for path, x in jax.tree_util.tree_flatten_with_path(d)[0]
      if path[-1].key == 'kernel'
    ]
  )
  assert 0.0049 < np.abs(d_kernels).max() <= 0.005
  last = 'output' if model == 'cifar10_fc' else 'deconv'
  out = g[last]['kernel']
  assert np.abs(out).max() <= (0.5 if model == 'cifar10_fc' else 0.05)
  assert np.abs(out).max() > (0.45 if model == 'cifar10_fc' else 0.04)
  biases = [
    x for path, x in jax.tree_util.tree_flatten_with_path((g, d))[0] if path[-1].key == 'bias'
  ]
  assert biases and not any(np.any(np.asarray(b)) for b in biases)
  assert gan.output == 'linear' and gan.preprocessing == 'gcn'
  assert models.get(model).recipe['noise_prior'] == 'normal'
  # Linear output: G's sample is its last affine layer's value (after the conv model's untied
  # bias), nothing applied after it.
  z = gan.sample_noise(jax.random.PRNGKey(3), 8)
  x, inter = gan.generator.apply(
    {'params': g}, z, capture_intermediates=True, mutable=['intermediates']
  )
  affine = inter['intermediates']['output' if model == 'cifar10_fc' else 'deconv_bias']
  np.testing.assert_array_equal(np.asarray(x), np.asarray(affine['__call__'][0]).reshape(8, -1))
  # So with its last weights scaled up, G's samples leave [0, 1] on both sides.
  big = {**g, last: {**g[last], 'kernel': 1000 * g[last]['kernel']}}
  x = np.asarray(jax.jit(gan.generate)(big, z))
  assert x.min() < -1 and x.max() > 2


def test_convnet_pooling_overhangs_as_cuda_convnet():
  assert [layers.pooled_size(n, p, s) for n, p, s in ((33, 4, 2), (15, 4, 2), (9, 2, 2))] == [
    16,
    7,
    5,
  ]
  x = jnp.arange(5.0).reshape(1, 5, 1, 1) * jnp.ones((1, 1, 5, 1))
  # Windows of 2 at stride 2 over 5 rows: [0, 1], [2, 3] and the overhanging [4].
  out = layers.max_pool_convnet(x, 2, 2)
  assert out.shape == (1, 3, 3, 1)
  np.testing.assert_array_equal(np.asarray(out[0, :, 0, 0]), [1.0, 3.0, 4.0])
  np.testing.assert_array_equal(
    np.asarray(layers.max_pool_convnet(-x - 1, 2, 2)[0, :, 0, 0]), [-1.0, -3.0, -5.0]
  )


def test_gcn_closed_form_and_display():
  x = np.array([[0.0, 2.0, 4.0, 6.0], [3.0, 3.0, 3.0, 3.0]], np.float32)
  out = np.asarray(preprocess.gcn(jnp.asarray(x)))
  # Row 0: centred [-3, -1, 1, 3], norm sqrt(20).
  np.testing.assert_allclose(out[0], 55 * np.array([-3, -1, 1, 3]) / math.sqrt(20), rtol=1e-6)
  np.testing.assert_array_equal(out[1], 0.0)  # a constant image is only centred
  assert np.linalg.norm(out[0]) == pytest.approx(55.0, rel=1e-6)
  # Scale invariant: [0, 255] and [0, 1] pixels give the same.
  np.testing.assert_allclose(
    np.asarray(preprocess.gcn(jnp.asarray(x / 255))), out, rtol=1e-5, atol=1e-5
  )
  np.testing.assert_allclose(preprocess.gcn(x, xp=np), out, rtol=1e-6)
  shown = preprocess.stretch(out)
  np.testing.assert_allclose(shown[0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
  np.testing.assert_array_equal(shown[1], 0.5)
  # Showing a GCN'd real image is stretching its raw pixels.
  np.testing.assert_allclose(shown, preprocess.stretch(x), rtol=1e-6)
  gan = build_gan(_config('cifar10_fc'), data_dim=4, num_train=10, **SMALL['cifar10_fc'])
  np.testing.assert_allclose(
    np.asarray(gan.prepare(jnp.asarray(x * 40, jnp.uint8))), out, rtol=1e-5
  )
  pixels = build_gan(
    _config('cifar10_fc', preprocessing='pixels'), data_dim=4, num_train=10, **SMALL['cifar10_fc']
  )
  np.testing.assert_allclose(
    np.asarray(pixels.prepare(jnp.asarray(x * 40, jnp.uint8))),
    (x * 40).astype(np.uint8) / np.float32(255),
    rtol=1e-6,
  )
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


@pytest.fixture(scope='module')
def mock_cifar(tmp_path_factory):
  """60 mock CIFAR-10 training images cut 48 / 12 (the original's 40000 / 10000, scaled), 8 test
  images; (manual_dir, the 60 training images [60, 32, 32, 3])."""
  root = tmp_path_factory.mktemp('cifar')
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(builders.NUM_TRAIN, 'cifar10', 48)
    data.loader.clear_cache()
    images = _mock_batches(root / 'raw' / 'cifar-10-batches-bin')
    yield str(root / 'raw'), images
  data.loader.clear_cache()


@contextlib.contextmanager
def _small_widths():
  """The CIFAR-10 models at SMALL widths (what a config of --model builds, and restores)."""
  with pytest.MonkeyPatch.context() as patch:
    for name, widths in SMALL.items():
      for key, value in widths.items():
        patch.setitem(MODULES[name].WIDTHS, key, value)
    yield


def _run_config(model, manual_dir):
  extra = {} if model == 'mnist_mlp' else {**models.get(model).recipe, 'learning_rate': 0.1}
  return Config(
    **{
      **extra,
      'model': model,
      'dataset': 'cifar10',
      'manual_dir': manual_dir,
      'num_steps': 2,
      'batch_size': 8,
      'steps_per_call': 1,
      'log_every': 1,
      'checkpoint_every': 2,
      'sample_every': 2,
      'num_grid_samples': 4,
      'g_hidden': (16,) if model == 'mnist_mlp' else Config.g_hidden,
      'd_units': (8,) if model == 'mnist_mlp' else Config.d_units,
      'd_keep_probs': (0.8, 0.5) if model == 'mnist_mlp' else Config.d_keep_probs,
    }
  )


@dataclasses.dataclass
class Run:
  config: Config
  gan: object
  mesh: object
  state: object  # the initial state, on the host: put it on devices per use (steps donate it)
  step: object  # parallel.compile_train_steps(gan, mesh, 1)


@pytest.fixture(scope='module')
def runs(mock_cifar):
  """model -> Run of its checkpoint config on one device, built once (module docstring)."""
  built = {}

  def get(model):
    if model not in built:
      config = _run_config(model, mock_cifar[0])
      mesh = parallel.make_mesh(jax.devices()[:1])
      with _small_widths():
        gan = build_gan(config, data_dim=3072, num_train=48)
      # As assembly.Experiment.init_state builds it: the same program.
      init = jax.jit(
        functools.partial(create_train_state, gan, config.seed),
        out_shardings=parallel.replicated(mesh),
      )
      built[model] = Run(
        config, gan, mesh, jax.device_get(init(None)), parallel.compile_train_steps(gan, mesh, 1)
      )
    return built[model]

  return get


@pytest.fixture(scope='module')
def checkpoints(mock_cifar, tmp_path_factory):
  """model -> (config, workdir, final state on the host) of a 2-step run, trained once."""
  trained = {}

  def get(model):
    if model not in trained:
      config = _run_config(model, mock_cifar[0])
      workdir = str(tmp_path_factory.mktemp('runs') / model)
      with _small_widths():
        state = lone.train_and_evaluate(config, workdir, mesh=parallel.make_mesh(jax.devices()[:1]))
      trained[model] = (config, workdir, jax.device_get(state))
    return trained[model]

  return get


def test_cifar10_split_is_the_original_configs(mock_cifar):
  assert builders.Cifar10Bin.BUILDER_CONFIGS[0].num_train == 40_000
  manual_dir, images = mock_cifar
  splits = {s: data.load_split('cifar10', s, manual_dir=manual_dir) for s in data.SPLITS}
  assert {s: x.num_examples for s, x in splits.items()} == {
    'train': 48,
    'validation': 12,
    'test': 8,
  }
  np.testing.assert_array_equal(splits['train'].images, images[:48])
  np.testing.assert_array_equal(splits['validation'].images, images[48:])


def test_tfds_prepared_cifar10_feeds_the_model(runs, tmp_path, monkeypatch):
  """TFDS's prepared `cifar10` (its own builder, fed 15 + 4 tiny images), read by the project's
  loader: its train split goes through GCN into D."""
  data_dir = str(tmp_path / 'tfds')
  TinyCifar10(data_dir=data_dir, file_format='array_record').download_and_prepare()
  monkeypatch.setitem(builders.NUM_TRAIN, 'cifar10', 12)
  train = data.load_split('cifar10', 'train', data_dir=data_dir)
  # The original train[0:12] (pixel (0, 0, 0) holds the example's index), although TFDS stores
  # the split shuffled, and no data set of the project's own builders prepared.
  import tensorflow_datasets as tfds

  source = tfds.data_source('cifar10', split='train', data_dir=data_dir)
  assert [int(source[i]['image'][0, 0, 0]) for i in range(12)] != list(range(12))
  assert train.images[:, 0, 0, 0].tolist() == list(range(12))
  images, labels = TinyCifar10.arrays('train')
  np.testing.assert_array_equal(train.images, images[train.images[:, 0, 0, 0]])
  np.testing.assert_array_equal(train.labels, labels[train.images[:, 0, 0, 0]])
  assert not os.path.exists(os.path.join(data_dir, data.loader._BUILDERS['cifar10'].name))
  run = runs('cifar10_conv')
  x = run.gan.prepare(jnp.asarray(train.images.reshape(12, -1)))
  np.testing.assert_allclose(np.linalg.norm(np.asarray(x), axis=1), 55.0, rtol=1e-4)
  assert run.gan.discriminate(run.state.d_params, x).shape == (12,)


def _on(run, mesh, state=None):
  return jax.device_put(run.state if state is None else state, parallel.replicated(mesh))


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_a_few_steps_lower_d_loss_on_a_fixed_batch(model, runs):
  run = runs(model)
  gan = run.gan
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (48, 3072), dtype=np.uint8))
  z = gan.sample_noise(jax.random.PRNGKey(7), 48)

  @jax.jit
  def d_loss_jit(g_params, d_params):
    from gan_jax.game import losses

    real = gan.discriminate(d_params, gan.prepare(images))
    fake = gan.discriminate(d_params, gan.generate(g_params, z))
    return losses.discriminator_loss(real, fake)

  d_loss = lambda state: float(d_loss_jit(state.g_params, state.d_params))

  state = run.state
  assert d_loss(state) == pytest.approx(math.log(2), abs=1e-3)  # D(x) ~ 1/2 at U(±.005) init
  # Through three U(±.005) conv layers D's gradients are ~1e-7: a few steps cannot show them.
  # D starts at U(±.1) here, so that 20 steps move it measurably.
  state = state.replace(d_params=jax.tree.map(lambda x: 20 * x, state.d_params))
  before = d_loss(state)
  state = _on(run, run.mesh, state)
  data_on = parallel.put_replicated(np.asarray(images), run.mesh)
  losses_seen = []
  for _ in range(20):
    state, metrics = run.step(state, data_on)
    losses_seen.append(np.asarray(metrics['d_loss']))
  assert np.all(np.isfinite(np.concatenate([np.ravel(x) for x in losses_seen])))
  assert d_loss(jax.device_get(state)) < before - 0.1


def test_two_devices_train_the_conv_model_as_one(runs):
  assert jax.device_count() >= 2, 'conftest forces 4 CPU devices'
  run = runs('cifar10_conv')
  images = np.random.default_rng(1).integers(0, 256, (48, 3072), dtype=np.uint8)

  def train_on(mesh, step):
    state, on = _on(run, mesh), parallel.put_replicated(images, mesh)
    for _ in range(5):
      state, _ = step(state, on)
    return jax.device_get(state)

  two_devices = parallel.make_mesh(jax.devices()[:2])
  one = train_on(run.mesh, run.step)
  two = train_on(two_devices, parallel.compile_train_steps(run.gan, two_devices, 1))
  for a, b in ((one.g_params, two.g_params), (one.d_params, two.d_params)):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), a, b)
  assert int(two.step) == 5


@pytest.mark.parametrize('model', ['mnist_mlp', 'cifar10_fc', 'cifar10_conv'])
def test_checkpoint_of_each_model_restores_and_samples(model, checkpoints, runs):
  if model != 'mnist_mlp':
    runs(model)  # its programs first, so that the run finds them compiled
  config, workdir, state = checkpoints(model)
  with _small_widths():
    restored = sampling.restore(workdir)
    samples = restored.sample(5, seed=3)
  assert restored.step == 2 and restored.config == config
  assert restored.image_shape == (32, 32, 3)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored.g_params), state.g_params)
  assert samples.shape == (5, 32, 32, 3) and samples.dtype == np.float32
  assert samples.min() >= 0 and samples.max() <= 1
  if model != 'mnist_mlp':  # GCN: each sample is shown stretched onto exactly [0, 1]
    np.testing.assert_allclose(samples.reshape(5, -1).min(1), 0.0, atol=1e-6)
    np.testing.assert_allclose(samples.reshape(5, -1).max(1), 1.0, atol=1e-6)


# --- Evaluation on colour images ----------------------------------------------------------------

# Two convolutions and a pool (a third of the paper-size net's compile time), 4 features.
TINY_CONVNET = {'channels': (2, 2), 'hidden': (4,)}
KID = {'kid_subsets': 2, 'kid_subset_size': 4}


@pytest.fixture(scope='module')
def tiny_convnet(mock_cifar, tmp_path_factory):
  """(classifier, cache_dir): the CIFAR-10 convnet at tiny widths, one epoch on the mock data,
  trained by load_or_train and cached."""
  from gan_jax.evaluation import classifier

  cache = str(tmp_path_factory.mktemp('classifiers') / 'cifar10')
  recipe = classifier.Recipe.for_dataset('cifar10', epochs=1, **TINY_CONVNET)
  return classifier.load_or_train(
    'cifar10', cache_dir=cache, manual_dir=mock_cifar[0], recipe=recipe
  ), cache


def test_convnet_classifier_trains_caches_and_reloads(tiny_convnet, mock_cifar, monkeypatch):
  from gan_jax.evaluation import classifier

  trained, cache = tiny_convnet
  assert isinstance(trained.model, classifier.ConvNet)
  assert trained.recipe.to_dict()['architecture'] == 'convnet'
  assert trained.recipe.to_dict()['channels'] == [2, 2]
  # The MNIST-like sets keep their MLP and its recipe, key for key: their caches stay valid.
  assert classifier.Recipe.for_dataset('mnist_5k').to_dict() == {
    'dataset': 'mnist_5k',
    'hidden': [512, 128],
    'dropout': 0.3,
    'learning_rate': 1e-3,
    'weight_decay': 1e-4,
    'batch_size': 128,
    'epochs': 40,
    'seed': 0,
    'version': 1,
  }
  assert classifier.Recipe.for_dataset('cifar10').to_dict()['channels'] == [32, 32, 64, 64]
  assert classifier.Recipe.for_dataset('cifar10').hidden == (256,)
  test = data.load_split('cifar10', 'test', manual_dir=mock_cifar[0])
  features, probs = trained.features_and_probs(test.images)
  assert features.shape == (8, 4) and probs.shape == (8, 10)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
  assert trained.test_accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == test.labels))

  def no_training(*args, **kwargs):
    raise AssertionError('a cached classifier must not be retrained')

  monkeypatch.setattr(classifier, 'train', no_training)
  again = classifier.load_or_train(
    'cifar10', cache_dir=cache, manual_dir=mock_cifar[0], recipe=trained.recipe
  )
  assert again.sha256 == trained.sha256 and again.test_accuracy == trained.test_accuracy
  for a, b in zip(again.features_and_probs(test.images), (features, probs)):
    np.testing.assert_array_equal(a, b)
  # Another recipe is not this cache's.
  assert classifier.load(cache, dataclasses.replace(trained.recipe, channels=(2, 4))) is None
  # The input is stretched per image: a GCN'd image shown stretched is its raw image to it.
  flat = test.images.reshape(8, -1).astype(np.float32)
  shown = preprocess.stretch(np.asarray(preprocess.gcn(flat, xp=np)))
  np.testing.assert_allclose(trained.features_and_probs(shown)[0], features, rtol=1e-4, atol=1e-5)


def test_convnet_classifier_asks_for_full_float32_precision():
  from gan_jax.evaluation import classifier

  model = classifier.ConvNet(channels=(2, 2, 2, 2), hidden=(4,))
  q = jnp.ones((3, 3072))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), q)['params']
  ops = [
    line
    for line in classifier._apply.lower(model, params, q).as_text().splitlines()
    if 'stablehlo.convolution' in line or 'stablehlo.dot_general' in line
  ]
  assert len(ops) == 6  # four convolutions, two dense layers
  assert all(line.count('HIGHEST') == 2 for line in ops)


def test_check_samples_takes_colour_images():
  from gan_jax.base.errors import UserError
  from gan_jax.evaluation import samples as samples_lib

  x = np.random.default_rng(0).random((12, 32, 32, 3), np.float32)
  for array in (x, x.reshape(12, -1)):
    np.testing.assert_array_equal(samples_lib.check_samples(array, (32, 32, 3)), x.reshape(12, -1))
  with pytest.raises(UserError, match=r'expected \[N, 32, 32, 3\] or \[N, 3072\]'):
    samples_lib.check_samples(x[..., 0], (32, 32, 3))  # grey is not colour


def test_protocol_and_reference_row_on_colour_images(tiny_convnet, mock_cifar, checkpoints):
  from gan_jax import evaluation
  from gan_jax.evaluation import protocol

  manual_dir, raw = mock_cifar
  flat = raw.reshape(60, -1)
  pixels = evaluation.prepare(
    'cifar10', manual_dir=manual_dir, classifier=tiny_convnet[0], preprocessing='pixels'
  )
  np.testing.assert_array_equal(pixels.train, flat[:48] / np.float32(255))
  ref = evaluation.prepare(
    'cifar10', manual_dir=manual_dir, classifier=tiny_convnet[0], preprocessing='gcn'
  )
  assert ref.image_shape == (32, 32, 3) and ref.preprocessing == 'gcn'
  assert (ref.train.shape, ref.validation.shape, ref.test.shape) == (
    (48, 3072),
    (12, 3072),
    (8, 3072),
  )
  # Real images are measured as GCN samples are shown: GCN'd, then stretched onto [0, 1].
  np.testing.assert_allclose(
    ref.train,
    preprocess.stretch(np.asarray(preprocess.gcn(flat[:48].astype(np.float32), xp=np))),
    atol=1e-6,
  )
  np.testing.assert_allclose(ref.validation.min(1), 0.0, atol=1e-7)
  np.testing.assert_allclose(ref.validation.max(1), 1.0, atol=1e-6)
  real = evaluation.real_data_metrics(ref, 12, **KID)
  assert real['num_images'] == 12 and 'training images' in real['source']
  real_scalars = protocol.scalars(real)
  assert all(np.isfinite(v) for v in real_scalars.values()), real_scalars
  assert np.isfinite(real['parzen']['se']) and real['parzen']['sigma'] > 0
  # The in-training evaluation of a CIFAR-10 checkpoint, with its reference row.
  config, workdir, _ = checkpoints('cifar10_conv')
  with _small_widths():
    restored = sampling.restore(workdir)
  eval_fn = evaluation.make_eval_fn(config, reference=ref, num_samples=12, **KID)
  values = eval_fn(restored.gan, restored.g_params, 2)
  names = (*protocol.SCALARS, protocol.MEMORISATION)
  assert set(values) == {*names, *(f'real_data/{k}' for k in names)}
  assert all(np.isfinite(v) for v in values.values()), values
  assert {k: values[f'real_data/{k}'] for k in protocol.SCALARS} == real_scalars
  # It measures what the checkpoint's sampler shows.
  shown = sampling.as_shown(
    restored.gan, evaluation.generate_samples(restored.gan, restored.g_params, 12)
  )
  np.testing.assert_allclose(shown, restored.sample(12, seed=0).reshape(12, -1), atol=1e-6)
  with pytest.raises(ValueError, match='measures pixels images, the run makes gcn'):
    evaluation.make_eval_fn(config, reference=pixels)


def test_cli_evaluates_a_cifar10_checkpoint(tiny_convnet, checkpoints, tmp_path, monkeypatch):
  """experiments.evaluate in this process (the mock data and tiny widths are patched here)."""
  from absl import flags
  from PIL import Image

  from experiments import cli, evaluate
  from gan_jax.evaluation import classifier, report

  trained, cache = tiny_convnet
  workdir = str(tmp_path / 'run')
  shutil.copytree(checkpoints('cifar10_conv')[1], workdir)
  monkeypatch.setattr(classifier, 'CONVNET', TINY_CONVNET)  # --classifier_epochs=1 finds it
  monkeypatch.setattr(classifier, 'train', None)  # cached: never trained here
  flags.FLAGS.unparse_flags()
  try:
    with _small_widths():
      cli.wrap(evaluate.main)(
        cli.parse_flags(
          [
            'experiments.evaluate',
            f'--workdir={workdir}',
            '--num_samples=12',
            '--classifier_epochs=1',
            f'--cache_dir={cache}',
            '--kid_subsets=2',
            '--kid_subset_size=4',
          ]
        )
      )
  finally:
    flags.FLAGS.unparse_flags()
  with open(os.path.join(workdir, report.JSON_FILE)) as f:
    saved = json.load(f)
  assert saved['step'] == 2 and saved['num_samples'] == 12 and saved['preprocessing'] == 'gcn'
  assert saved['classifier']['sha256'] == trained.sha256
  assert saved['classifier']['features'] == 4
  for row in (saved, saved['real_data']):
    assert np.isfinite(row['parzen']['ll']) and np.isfinite(row['frechet_distance'])
    assert np.isfinite(row['kid']['mean']) and 0 <= row['precision'] <= 1
  assert set(saved['figures']) == {'figure2', 'figure3', 'nn_histogram'}
  # Figure 2: 12 samples make 2 rows of 6, and the nearest training image: 32x32 cells, pad 2.
  assert Image.open(os.path.join(workdir, report.FIGURE2_FILE)).size == (7 * 34 + 2, 2 * 34 + 2)
  figure3 = Image.open(os.path.join(workdir, report.FIGURE3_FILE))
  assert figure3.size == (11 * 33 + 1, 10 * 33 + 1) and figure3.mode == 'RGB'
  with open(os.path.join(workdir, report.MARKDOWN_FILE)) as f:
    assert 'stretched' in f.read()


def test_evaluation_matmuls_ask_for_full_float32_precision():
  """TF32/bf16 defaults on accelerators would change the numbers; CPU shows the request in HLO."""
  from gan_jax.evaluation import classifier, distances, metrics, parzen

  q, r = jnp.ones((8, 3072)), jnp.ones((16, 3072))
  lowered = {
    'nearest': distances._nearest.lower(q, r, k=1, bq=8, br=16),
    'within_any_ball': distances._within_any_ball.lower(q, r, jnp.ones(16), bq=8, br=16),
    'parzen': parzen._parzen_terms.lower(q, r, jnp.ones(2), bq=8, bc=16),
    'kid': metrics._kid_row_sums.lower(
      q, r, jnp.zeros((2, 4), jnp.int32), jnp.zeros((2, 4), jnp.int32)
    ),
    'classifier': classifier._apply.lower(
      classifier.MLP(), jax.eval_shape(classifier.MLP().init, jax.random.PRNGKey(0), q)['params'], q
    ),
  }
  for name, low in lowered.items():
    text = low.as_text()
    dots = text.count('stablehlo.dot_general')
    assert dots and text.count('precision = [HIGHEST, HIGHEST]') == dots, name
  plain = jax.jit(lambda a, b: a @ b.T).lower(q, r).as_text()
  assert 'HIGHEST' not in plain  # the default is not it: the argument is what asks


# The original configs' training recipes, written from goodfeli/adversarial's files (not from
# the models' RECIPE dicts, which this checks): each value with its file and field. The two
# CIFAR-10 configs differ only in the batch size and the learning rate.
_CIFAR10_YAMLS = {
  'noise_dim': 100,  # generator: mlp: nvis: 100
  # Neither config sets generator: noise:, so __init__.py's Generator(noise="gaussian") holds.
  'noise_prior': 'normal',
  'update': 'simultaneous',  # __init__.py AdversaryCost2.get_gradients: D's and G's gradients
  'g_loss': 'non_saturating',  # __init__.py AdversaryCost2: g_obj = cost(y1, y_hat0)
  'optimizer': 'sgd_momentum',  # algorithm: SGD, learning_rule: Momentum
  'momentum': 0.5,  # learning_rule: Momentum: init_momentum: .5
  'lr_decay': 1.000004,  # update_callbacks: ExponentialDecay: decay_factor: 1.000004
  'min_learning_rate': 1e-6,  # update_callbacks: ExponentialDecay: min_lr: .000001
  'final_momentum': 0.7,  # extensions: MomentumAdjustor: final_momentum: .7
  'momentum_saturate_epoch': 250,  # extensions: MomentumAdjustor: saturate: 250
  'dataset': 'cifar10',  # dataset: pylearn2.datasets.cifar10.CIFAR10
}
ORIGINAL_RECIPES = {
  # cifar10_fully_connected.yaml, algorithm: SGD: batch_size: 100, learning_rate: .025
  'cifar10_fc': {**_CIFAR10_YAMLS, 'batch_size': 100, 'learning_rate': 0.025},
  # cifar10_convolutional.yaml, algorithm: SGD: batch_size: 128, learning_rate: .004
  'cifar10_conv': {**_CIFAR10_YAMLS, 'batch_size': 128, 'learning_rate': 0.004},
}


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_flagfile_is_the_original_configs_recipe(model):
  from experiments.config_flags import config_from_args
  from tests.helpers import ROOT

  path = f'{ROOT}/experiments/configs/{model}.flags'
  config = config_from_args([f'--flagfile={path}'])
  original = ORIGINAL_RECIPES[model]
  assert {k: getattr(config, k) for k in original} == original
  # The model's recipe holds the same values and no others.
  recipe = models.get(model).recipe
  assert recipe == {k: original[k] for k in recipe}
  assert config.model == model
  assert config.resolved_preprocessing == 'gcn'  # dataset: CIFAR10: gcn: 55.
  # dataset: CIFAR10: start: 0, stop: 40000 (NUM_TRAIN's value: mock_cifar shrinks NUM_TRAIN)
  assert builders.Cifar10Bin.BUILDER_CONFIGS[0].num_train == 40_000
  assert preprocess.gcn(np.array([[0.0, 1.0]]), xp=np)[0, 1] == pytest.approx(55 / math.sqrt(2))
  with open(path) as f:
    header = f.read()
  assert 'GPU' in header and 'FLOP' in header and 'estimated' in header


def test_resources_count_each_models_parameters():
  from gan_jax.runtime import resources

  assert resources.model_params(_config('cifar10_conv'), 3072) == 64_825_072 + 12_454_073
  assert resources.model_params(_config('cifar10_fc'), 3072) == 89_395_072 + 37_393_601
  assert resources.model_params(Config(), 784) == (
    100 * 1200
    + 1200
    + 1200 * 1200
    + 1200
    + 1200 * 784
    + 784
    + 784 * 1200
    + 1200
    + 240 * 1200
    + 1200
    + 241
  )


@pytest.mark.parametrize('model', ['cifar10_fc', 'cifar10_conv'])
def test_bench_abstract_inputs_take_models_without_an_output_bias(model):
  from benchmarks import measure

  config = _config(model)
  gan = build_gan(config, data_dim=3072, num_train=40_000)
  exp = assembly.Experiment(config, gan, None, np.zeros((0, 32, 32, 3), np.uint8), None)
  state, images = measure.abstract_inputs(exp)  # shapes only, at the paper's sizes
  assert (
    param_count(state.g_params) == {'cifar10_fc': 89_395_072, 'cifar10_conv': 64_825_072}[model]
  )
  assert images.shape == (0, 3072) and images.dtype == jnp.uint8
