"""The conditional GAN (section 7's first extension): its networks, labels through the step, the
loop, populations, devices, checkpoints and sampling, and the metrics that use the condition."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.base.config import Config
from gan_jax.base.errors import DataError, UserError
from gan_jax.evaluation import conditional, metrics
from gan_jax.game import losses, models, steps
from gan_jax.game.state import build_gan, create_train_state
from gan_jax.loop import assembly, lone, population
from gan_jax.loop import members as members_lib
from gan_jax.runtime import parallel, sampling
from tests.helpers import make_test_config, run_module

TINY = dict(
  model='mnist_mlp_cgan', g_hidden=(16,), d_units=(8, 8), d_pieces=2, noise_dim=4, batch_size=8
)
MIX = np.full(10, 0.1, np.float32)


def _setup(num_train=40, **overrides):
  config = Config(**{**TINY, **overrides})
  gan = build_gan(config, data_dim=12, num_train=num_train, num_classes=10)
  state = create_train_state(gan, config.seed, None, MIX)
  images = jax.random.randint(jax.random.PRNGKey(5), (num_train, 12), 0, 256).astype(jnp.uint8)
  labels = jnp.arange(num_train, dtype=jnp.int32) % 10
  return config, gan, state, (images, labels)


def _kernels(params) -> dict:
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return {
    '/'.join(k.key for k in path[:-1]): leaf.shape
    for path, leaf in flat
    if path[-1].key == 'kernel'
  }


def test_mirza_networks_have_their_section_4_1_sizes():
  """G: z 100 -> 200, y 10 -> 1000, [1200] -> 1200 -> 784; D: x -> maxout 240x5, y -> 50x5,
  [290] -> maxout 240x4 -> 1."""
  gan = build_gan(Config(model='mnist_cgan', dataset='mnist'), data_dim=784, num_train=100,
                  num_classes=10)  # fmt: skip
  state = jax.eval_shape(lambda: create_train_state(gan, 0, None, MIX))
  assert _kernels(state.g_params) == {
    'noise': (100, 200),
    'label': (10, 1000),
    'joint': (1200, 1200),
    'output': (1200, 784),
  }
  assert _kernels(state.d_params) == {
    'image/Dense_0': (784, 240 * 5),
    'label/Dense_0': (10, 50 * 5),
    'joint/Dense_0': (240 + 50, 240 * 4),
    'output': (240, 1),
  }


def _dropouts(module, *args, **kwargs) -> list[tuple[float, tuple]]:
  """(rate, input shape) of every dropout a training-mode call applies, in order."""
  seen = []

  def spy(next_fun, args_, kwargs_, context):
    if isinstance(context.module, nn.Dropout) and context.method_name == '__call__':
      seen.append((round(context.module.rate, 6), args_[0].shape))
    return next_fun(*args_, **kwargs_)

  variables = module.init(jax.random.PRNGKey(0), *args, train=False)
  with nn.intercept_methods(spy):
    module.apply(variables, *args, train=True, rngs={'dropout': jax.random.PRNGKey(1)})
  return seen


def test_mirza_discriminator_drops_half_of_the_joint_and_output_inputs_only():
  d = models.get('mnist_cgan').build(None, 784)[1]
  x, y = jnp.ones((3, 784)), jax.nn.one_hot(jnp.array([0, 1, 2]), 10)
  assert _dropouts(d, x, y) == [(0.5, (3, 290)), (0.5, (3, 240))]


def test_concat_model_feeds_y_to_the_papers_nets_inputs():
  config, gan, state, _ = _setup()
  assert _kernels(state.g_params) == {'hidden_0': (4 + 10, 16), 'output': (16, 12)}
  assert _kernels(state.d_params)['maxout_0/Dense_0'] == (12 + 10, 8 * 2)
  x, y = jnp.ones((3, 12)), jax.nn.one_hot(jnp.array([0, 1, 2]), 10)
  # The paper's dropout, on D's input [x, y] and each hidden layer.
  assert _dropouts(gan.discriminator, x, y) == [(0.2, (3, 22)), (0.5, (3, 8)), (0.5, (3, 8))]


def test_labels_select_what_g_makes_and_are_required():
  _, gan, state, _ = _setup()
  z = jnp.ones((2, 4))
  a = gan.generate(state.g_params, z, jnp.array([3, 3]))
  b = gan.generate(state.g_params, z, jnp.array([3, 7]))
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.array_equal(a[1], b[1])
  with pytest.raises(ValueError, match='needs the labels'):
    gan.generate(state.g_params, z)
  plain = build_gan(Config(**{**TINY, 'model': 'mnist_mlp'}), data_dim=12, num_train=40)
  with pytest.raises(ValueError, match='unconditional'):
    plain.generate(create_train_state(plain, 0, None).g_params, z, jnp.array([0, 1]))


@pytest.mark.parametrize('g_loss', ['non_saturating', 'minimax'])
def test_simultaneous_step_judges_real_labels_and_g_draws_from_the_class_mix(g_loss):
  """The step's gradients equal those of the losses written out: real x with its labels, G's
  samples with labels drawn from the class prior under fold_in(fold_in(rng, step), 1)."""
  config, gan, state, (images, labels) = _setup(g_loss=g_loss)
  mix = np.zeros(10, np.float32)
  mix[[2, 5]] = 0.5  # G is only ever asked for 2s and 5s
  state = state.replace(class_mix=jnp.asarray(mix))
  x, y = gan.prepare(images[:8])[None], labels[:8][None]
  new, _ = steps.train_step(state, (x, y), gan=gan)

  key = jax.random.fold_in(state.rng, state.step)
  z_key, dropout_key = jax.random.split(key)
  real_key, fake_key = jax.random.split(dropout_key)
  y_fake = gan.sample_labels(jax.random.fold_in(key, 1), state.class_mix, (2, 8))[0]
  assert set(np.asarray(y_fake).tolist()) <= {2, 5}
  z = gan.sample_noise(z_key, 8)

  def fake_logits(g, d):
    return gan.discriminate(d, gan.generate(g, z, y_fake), y_fake, dropout_key=fake_key)

  def d_loss(d):
    real = gan.discriminate(d, x[0], y[0], dropout_key=real_key)
    return losses.discriminator_loss(real, fake_logits(state.g_params, d))

  g_loss_fn = lambda g: losses.GENERATOR_LOSSES[g_loss](fake_logits(g, state.d_params))
  d_upd, _ = gan.d_tx.update(jax.grad(d_loss)(state.d_params), state.d_opt_state)
  g_upd, _ = gan.g_tx.update(jax.grad(g_loss_fn)(state.g_params), state.g_opt_state)
  expect_d = optax.apply_updates(state.d_params, d_upd)
  expect_g = optax.apply_updates(state.g_params, g_upd)
  close = functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-7)
  jax.tree.map(close, new.d_params, expect_d)
  jax.tree.map(close, new.g_params, expect_g)


def test_fused_steps_gather_each_images_own_labels():
  """Image i carries value i and label i % 10; every batch's labels match its images."""
  _, gan, state, _ = _setup(update='alternating', d_steps=2)
  images = jnp.repeat(jnp.arange(40, dtype=jnp.uint8)[:, None], 12, axis=1)
  labels = jnp.arange(40, dtype=jnp.int32) % 10

  def spy_step(state, batch, **kwargs):
    del kwargs
    x, y = batch
    return state.replace(step=state.step + 1), {'ids': jnp.round(x[:, :, 0] * 255), 'y': y}

  orig = steps.train_step
  steps.train_step = spy_step
  try:
    fused = jax.jit(functools.partial(steps.train_steps, gan=gan, num_steps=6))
    _, out = fused(state, (images, labels))
  finally:
    steps.train_step = orig
  ids, y = np.asarray(out['ids']).astype(int), np.asarray(out['y'])
  np.testing.assert_array_equal(y, ids % 10)
  assert sorted(ids[:5].ravel()[:40]) == list(range(40))  # an epoch visits every image once


@pytest.mark.parametrize(
  'update, d_steps, g_loss',
  [('simultaneous', 1, 'non_saturating'), ('alternating', 2, 'minimax')],
)
def test_fused_conditional_steps_do_not_depend_on_how_they_are_split(update, d_steps, g_loss):
  _, gan, state, train_data = _setup(update=update, d_steps=d_steps, g_loss=g_loss, g_ema_decay=0.9)
  run = lambda s, n: jax.jit(functools.partial(steps.train_steps, gan=gan, num_steps=n))(
    s, train_data
  )
  whole, _ = run(state, 8)  # 5 batches an epoch: the second chunk crosses into the next one
  part, _ = run(state, 4)
  part, _ = run(part, 4)
  jax.tree.map(np.testing.assert_array_equal, whole, part)
  assert whole.g_average is not None


def test_one_and_four_devices_give_the_same_conditional_parameters():
  _, gan, _, (images, labels) = _setup(batch_size=16, num_train=64)

  def run(devices):
    mesh = parallel.make_mesh(devices)
    init = jax.jit(
      lambda: create_train_state(gan, 0, None, MIX), out_shardings=parallel.replicated(mesh)
    )
    f = parallel.compile_train_steps(gan, mesh, 20)
    placed = tuple(parallel.put_replicated(np.asarray(a), mesh) for a in (images, labels))
    return f(init(), placed)[0]

  one, four = run(jax.devices()[:1]), run(jax.devices()[:4])
  close = functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=2e-6)
  jax.tree.map(close, one.g_params, four.g_params)
  jax.tree.map(close, one.d_params, four.d_params)


@pytest.fixture(scope='module')
def cgan_run(tmp_path_factory):
  """40 steps of the concat cGAN on the bundled digits, averaged, with grids of 20."""
  workdir = str(tmp_path_factory.mktemp('cgan'))
  config = make_test_config('--model=mnist_mlp_cgan', '--g_ema_decay=0.9', '--num_grid_samples=20')
  return config, workdir, lone.train_and_evaluate(config, workdir)


def test_a_conditional_run_keeps_the_training_class_mix_and_a_grid_row_per_class(cgan_run):
  config, workdir, state = cgan_run
  split = data.load_split('mnist_5k', 'train')
  np.testing.assert_array_equal(
    np.asarray(state.class_mix),
    (np.bincount(split.labels, minlength=10) / split.num_examples).astype(np.float32),
  )
  grid = np.asarray(Image.open(f'{workdir}/samples/step_00000040.png'))
  assert grid.shape == (10 * 29 + 1, 2 * 29 + 1)  # 10 rows (a class each) of 2 samples


def test_a_conditional_run_resumes_bit_for_bit(cgan_run, tmp_path):
  config, _, reference = cgan_run
  lone.train_and_evaluate(config.replace(num_steps=20), str(tmp_path))
  resumed = lone.train_and_evaluate(config, str(tmp_path))
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(reference), jax.device_get(resumed))


def test_conditional_population_members_train_as_they_would_alone(tmp_path):
  """Equal up to the reduction order of a (2, 2) mesh against one device, relative to how far
  training moved the nets."""
  base = make_test_config(
    '--model=mnist_mlp_cgan', '--optimizer=sgd_momentum', '--learning_rate=0.5',
    '--num_steps=10', '--checkpoint_every=10', '--sample_every=10',
  )  # fmt: skip
  configs = [base.replace(seed=0), base.replace(seed=1, learning_rate=0.2)]
  dirs = [str(tmp_path / f'm{i}') for i in range(2)]
  states = population.train_population(configs, dirs, sweep_devices=2)
  one_device = parallel.make_mesh(jax.devices()[:1])
  for i, config in enumerate(configs):
    member = jax.device_get(members_lib.Stacked(states.step.sharding.mesh).take(states, i))
    init = assembly.setup(config, one_device).init_state()
    solo = jax.device_get(
      lone.train_and_evaluate(config, str(tmp_path / f'solo{i}'), mesh=one_device)
    )
    np.testing.assert_array_equal(member.class_mix, solo.class_mix)
    for net in ('g_params', 'd_params'):
      leaves = lambda s: [np.asarray(x) for x in jax.tree.leaves(getattr(s, net))]
      moved = max(np.max(np.abs(b - b0)) for b, b0 in zip(leaves(solo), leaves(init)))
      assert moved > 0
      for a, b in zip(leaves(member), leaves(solo)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * moved)


def test_restore_samples_the_classes_asked_for(cgan_run):
  _, workdir, state = cgan_run
  restored = sampling.restore(workdir)
  assert restored.gan.conditional and restored.averaged
  np.testing.assert_array_equal(restored.class_mix, np.asarray(state.class_mix))
  threes = restored.sample(4, labels=np.array([3, 3, 3, 3]))
  sevens = restored.sample(4, labels=np.array([7, 7, 7, 7]))
  assert not np.array_equal(threes, sevens)
  # Without labels: labels drawn from the class mix with the noise's seed.
  drawn = sampling.class_mix_labels(restored.class_mix, 4, seed=0)
  np.testing.assert_array_equal(restored.sample(4), restored.sample(4, labels=drawn))


def test_class_rows_and_parsed_labels():
  labels, columns = sampling.class_rows(10, 100)
  assert columns == 10 and labels.tolist() == np.repeat(np.arange(10), 10).tolist()
  labels, columns = sampling.class_rows(10, 16)  # 2 per row; rows beyond the 8th would be 9s
  assert columns == 2 and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
  assert sampling.parse_labels('3,3,7', 3, 10)[0].tolist() == [3, 3, 7]
  assert sampling.parse_labels('4', 3, 10)[0].tolist() == [4, 4, 4]
  with pytest.raises(UserError, match='12 is not a class of this model'):
    sampling.parse_labels('1,12', 2, 10)
  with pytest.raises(UserError, match='lists 2 labels for --num=5 samples'):
    sampling.parse_labels('1,2', 5, 10)
  with pytest.raises(UserError, match='is not a list of classes'):
    sampling.parse_labels('three', 1, 10)


def test_sample_cli_draws_by_class_and_says_when_it_draws_the_mix(cgan_run, tmp_path):
  _, workdir, _ = cgan_run
  out = run_module(
    'experiments.sample', f'--workdir={workdir}', '--num=20', '--labels=rows',
    f'--out={tmp_path / "rows.png"}',
  )  # fmt: skip
  assert out.returncode == 0, out.stderr
  assert np.asarray(Image.open(tmp_path / 'rows.png')).shape == (10 * 29 + 1, 2 * 29 + 1)
  out = run_module(
    'experiments.sample', f'--workdir={workdir}', '--num=3', f'--out={tmp_path / "a.npy"}'
  )
  assert out.returncode == 0, out.stderr
  assert "drawn from the training split's class mix" in out.stdout


def test_a_conditional_run_refuses_data_without_labels(monkeypatch):
  """A training split whose labels name one class (all 0: no labels) is one DataError, raised
  in setup, before any workdir is touched."""
  split = data.load_split('mnist_5k', 'train')
  blank = data.Split(split.images, np.zeros_like(split.labels))
  monkeypatch.setattr(data, 'load_split', lambda *a, **k: blank)
  with pytest.raises(DataError, match='no class labels to condition on'):
    assembly.setup(make_test_config('--model=mnist_mlp_cgan'))
  assembly.setup(make_test_config())  # an unconditional model trains on it


def test_class_mix_needs_labelled_data():
  np.testing.assert_allclose(data.class_mix(np.array([0, 1, 1, 3]), 4), [0.25, 0.5, 0, 0.25])
  with pytest.raises(DataError, match='no class labels to condition on'):
    data.class_mix(np.zeros(50, np.int32), 10)
  with pytest.raises(DataError, match='labels must be in 0..9'):
    data.class_mix(np.array([0, 10]), 10)


def test_conditional_accuracy_and_per_class_frechet_distance_have_their_closed_forms():
  probs = np.eye(3)[[0, 1, 2, 2]]  # the classifier says 0, 1, 2, 2
  assert conditional.accuracy(probs, np.array([0, 1, 2, 1])) == 0.75
  rng = np.random.default_rng(0)
  features, ref = rng.normal(size=(60, 2)), rng.normal(size=(90, 2))
  labels, ref_labels = np.arange(60) % 3, np.arange(90) % 3
  per_class = conditional.per_class_frechet(features, labels, ref, ref_labels)
  for c in range(3):
    expect = metrics.frechet_distance(
      metrics.Gaussian.fit(features[labels == c]), metrics.Gaussian.fit(ref[ref_labels == c])
    )
    assert per_class[c] == pytest.approx(expect)
  out = conditional.conditional_metrics(features, np.eye(3)[labels], labels, ref, ref_labels)
  assert out['conditional_accuracy'] == 1.0
  assert out['mean_class_frechet_distance'] == pytest.approx(np.mean(per_class))
