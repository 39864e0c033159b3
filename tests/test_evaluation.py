"""Evaluation: Parzen against float64 numpy and closed forms, each metric against a closed form or
a direct reference, the classifier cache, the memorisation check, figures and the entry point."""

import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from gan_jax import data, evaluation
from gan_jax.base.errors import UserError
from gan_jax.evaluation import (
  classifier,
  distances,
  figures,
  metrics,
  neighbours,
  parzen,
  protocol,
  report,
)
from gan_jax.evaluation import samples as samples_lib
from gan_jax.loop import assembly, lone
from gan_jax.runtime import sampling
from tests.helpers import make_test_config, run_module


def numpy_parzen(x, centres, sigma):
  """Direct float64 computation of the paper's formula (as parzen_ll.py, without Theano)."""
  x, centres = np.asarray(x, np.float64), np.asarray(centres, np.float64)
  a = -((x[:, None, :] - centres[None]) ** 2).sum(-1) / (2 * sigma**2)
  peak = a.max(axis=1, keepdims=True)
  return (
    peak[:, 0]
    + np.log(np.exp(a - peak).mean(axis=1))
    - x.shape[1] * np.log(sigma * np.sqrt(2 * np.pi))
  )


# --- Parzen window ----------------------------------------------------------------------------


def test_parzen_one_kernel_one_point_closed_form():
  x, mu, sigma = np.array([[0.3, 0.9, 0.1]]), np.array([[0.5, 0.4, 0.1]]), 0.2
  expected = -0.29 / (2 * sigma**2) - 3 * math.log(sigma * math.sqrt(2 * math.pi))
  np.testing.assert_allclose(parzen.parzen_log_likelihood(x, mu, sigma), [expected], atol=1e-5)


def test_parzen_two_centres_closed_form_far_in_the_tail():
  # exp(-d²/2σ²) underflows for both centres (d² = 100, 400 at σ = 0.1): only a max-shift keeps
  # the answer finite.
  x, mu, sigma = np.zeros((1, 1)), np.array([[10.0], [20.0]]), 0.1
  expected = (
    np.logaddexp(-100 / (2 * sigma**2), -400 / (2 * sigma**2))
    - math.log(2)
    - math.log(sigma * math.sqrt(2 * math.pi))
  )
  np.testing.assert_allclose(parzen.parzen_log_likelihood(x, mu, sigma), [expected], rtol=1e-6)


def test_parzen_matches_numpy_with_chunks_and_padding():
  rng = np.random.default_rng(0)
  x, centres = rng.random((37, 20)), rng.random((53, 20))
  got = parzen.parzen_log_likelihood(x, centres, parzen.SIGMAS, chunk_queries=8, chunk_centres=16)
  assert got.shape == (10, 37)
  for i, sigma in enumerate(parzen.SIGMAS):
    np.testing.assert_allclose(got[i], numpy_parzen(x, centres, sigma), rtol=1e-6, atol=1e-4)


def test_parzen_float32_is_accurate_on_near_duplicates_of_real_digits():
  # The hard case for the matmul form: ‖x‖² ~ 100 cancels against 2x·μ for neighbours at
  # d² ~ 1e-2. Centring and the difference-form nearest distance keep float32 within 1e-3 nats.
  images = data.load_split('mnist_5k', 'train').images[:600].reshape(600, -1) / 255.0
  rng = np.random.default_rng(1)
  centres = images[:500]
  x = np.clip(images[:40] + rng.normal(0, 0.003, (40, 784)), 0, 1)
  x = np.concatenate([x, images[500:560]])
  for sigma in (0.1, 0.2154, 1.0):
    np.testing.assert_allclose(
      parzen.parzen_log_likelihood(x, centres, sigma),
      numpy_parzen(x, centres, sigma),
      rtol=0,
      atol=1e-3,
    )


def test_parzen_estimate_picks_best_sigma_and_reports_the_standard_error():
  rng = np.random.default_rng(2)
  centres, validation, test = rng.random((30, 5)), rng.random((12, 5)), rng.random((9, 5))
  result = parzen.parzen_estimate(centres, validation, test)
  means = [numpy_parzen(validation, centres, s).mean() for s in parzen.SIGMAS]
  assert result.sigma == parzen.SIGMAS[int(np.argmax(means))]
  np.testing.assert_allclose(result.validation_ll, means, rtol=1e-6)
  ll = numpy_parzen(test, centres, result.sigma)
  np.testing.assert_allclose([result.ll, result.se], [ll.mean(), ll.std() / 3.0], rtol=1e-6)
  assert result.sigmas == tuple(np.logspace(-1, 0, 10))
  assert (result.num_centres, result.num_validation, result.num_test) == (30, 12, 9)


# --- Chunked distances ------------------------------------------------------------------------


def test_nearest_matches_brute_force():
  rng = np.random.default_rng(3)
  q, r = rng.random((23, 7)), rng.random((41, 7))
  sq = ((q[:, None] - r[None]) ** 2).sum(-1)
  for k in (1, 3):
    got_sq, got_idx = distances.nearest(q, r, k=k, chunk_queries=5, chunk_references=8)
    np.testing.assert_array_equal(got_idx, np.argsort(sq, axis=1)[:, :k])
    np.testing.assert_allclose(got_sq, np.sort(sq, axis=1)[:, :k], rtol=1e-5)


def test_within_any_ball_matches_brute_force():
  rng = np.random.default_rng(4)
  q, c, radii = rng.random((30, 3)), rng.random((17, 3)), rng.random(17) * 0.1
  sq = ((q[:, None] - c[None]) ** 2).sum(-1)
  got = distances.within_any_ball(q, c, radii, chunk_queries=7, chunk_references=5)
  np.testing.assert_array_equal(got, (sq <= radii[None]).any(axis=1))


# --- Feature-space metrics --------------------------------------------------------------------


def test_frechet_distance_of_diagonal_gaussians_closed_form():
  a = metrics.Gaussian(np.array([0.0, 1.0, 2.0]), np.diag([1.0, 4.0, 9.0]))
  b = metrics.Gaussian(np.array([1.0, 1.0, 0.0]), np.diag([4.0, 1.0, 1.0]))
  # ‖Δμ‖² + Σ (√a − √b)² for commuting covariances.
  assert metrics.frechet_distance(a, b) == pytest.approx(5.0 + 1.0 + 1.0 + 4.0, rel=1e-9)


def test_frechet_distance_general_covariances_match_symmetric_form():
  rng = np.random.default_rng(5)
  m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  a = metrics.Gaussian(rng.normal(size=6), m1 @ m1.T + 0.1 * np.eye(6))
  b = metrics.Gaussian(rng.normal(size=6), m2 @ m2.T + 0.1 * np.eye(6))
  root_a = scipy.linalg.sqrtm(a.cov).real
  cross = np.trace(scipy.linalg.sqrtm(root_a @ b.cov @ root_a).real)
  expected = np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov) + np.trace(b.cov) - 2 * cross
  assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_a_set_with_itself_is_zero_even_with_dead_features():
  rng = np.random.default_rng(6)
  features = np.maximum(rng.normal(size=(300, 16)), 0)
  features[:, :3] = 0  # dead ReLU units: singular covariance
  g = metrics.Gaussian.fit(features)
  assert abs(metrics.frechet_distance(g, g)) < 1e-4


def numpy_mmd2(x, y):
  """Unbiased MMD² by a direct double loop over pairs."""

  def k(a, b):
    return (a @ b / len(a) + 1) ** 3

  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return xx + yy - 2 * xy


def test_kid_matches_a_direct_double_loop():
  rng = np.random.default_rng(7)
  x, y = rng.random((15, 4)), rng.random((15, 4)) + 0.3
  # Subsets as large as the sets are permutations of them: every subset gives the full MMD².
  mean, std = metrics.kernel_distance(x, y, num_subsets=4, subset_size=100)
  assert mean == pytest.approx(numpy_mmd2(x, y), rel=1e-5)
  assert std < 1e-5 * abs(mean)
  # Proper subsets: the mean of the direct MMD² over the same draws.
  mean, std = metrics.kernel_distance(x, y, num_subsets=3, subset_size=6, seed=3)
  draws = np.random.default_rng(3)
  ia = [draws.choice(15, 6, replace=False) for _ in range(3)]
  ib = [draws.choice(15, 6, replace=False) for _ in range(3)]
  values = [numpy_mmd2(x[i], y[j]) for i, j in zip(ia, ib)]
  assert (mean, std) == pytest.approx((np.mean(values), np.std(values)), rel=1e-5)


def test_kid_of_one_distribution_is_near_zero_and_of_shifted_ones_positive():
  rng = np.random.default_rng(8)
  a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
  same, std = metrics.kernel_distance(a, b, num_subsets=20, subset_size=500)
  assert abs(same) < 3 * std / math.sqrt(20) + 1e-3
  shifted, _ = metrics.kernel_distance(a, b + 1.0, num_subsets=20, subset_size=500)
  assert shifted > 50 * abs(same)


def test_classifier_score_uniform_is_one_and_balanced_one_hot_is_num_classes():
  assert metrics.classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)
  assert metrics.classifier_score(np.eye(10)[np.arange(50) % 10]) == pytest.approx(10.0)
  assert metrics.classifier_score(np.eye(10)[np.zeros(50, int)]) == pytest.approx(1.0)
  # Half the classes, confidently and evenly: exp(log 5) = 5.
  assert metrics.classifier_score(np.eye(10)[np.arange(50) % 5]) == pytest.approx(5.0)


def test_coverage_and_class_kl():
  probs = np.eye(10)[[0, 0, 1, 2]]  # three classes, shares 1/2, 1/4, 1/4
  result = metrics.coverage(probs, np.full(10, 0.1))
  assert result['coverage'] == pytest.approx(0.3)
  expected = 0.5 * math.log(5) + 2 * 0.25 * math.log(2.5)
  assert result['class_kl'] == pytest.approx(expected)
  assert metrics.coverage(np.eye(10), np.full(10, 0.1)) == {'coverage': 1.0, 'class_kl': 0.0}


def test_precision_recall_of_itself_is_one_and_of_a_far_set_is_zero():
  rng = np.random.default_rng(9)
  real = rng.normal(size=(200, 5))
  assert metrics.precision_recall(real, real) == {'precision': 1.0, 'recall': 1.0}
  assert metrics.precision_recall(real, real + 100.0) == {'precision': 0.0, 'recall': 0.0}


def test_precision_recall_on_a_line_by_hand():
  real = np.arange(10.0)[:, None]  # k=1 radius of every real point: 1
  fake = np.array([[0.5], [4.2], [50.0], [51.0]])  # k=1 radii: 3.7, 3.7, 1, 1
  result = metrics.precision_recall(real, fake, k=1)
  assert result['precision'] == pytest.approx(0.5)  # 0.5 and 4.2 are within 1 of a real point
  # Reals within 3.7 of 0.5 or 4.2: 0..7 (8 of 10).
  assert result['recall'] == pytest.approx(0.8)


# --- The evaluation classifier ----------------------------------------------------------------


@pytest.fixture(scope='module')
def tiny_classifier():
  """A fast stand-in for the real classifier: one epoch on mnist_5k (what
  `experiments.evaluate --classifier_epochs=1` trains)."""
  recipe = classifier.Recipe.for_dataset('mnist_5k', epochs=1)
  train_split, test_split = (data.load_split('mnist_5k', s) for s in ('train', 'test'))
  return classifier.train(
    recipe, train_split.images, train_split.labels, test_split.images, test_split.labels
  )


def test_classifier_learns_and_reports_test_accuracy(tiny_classifier):
  assert tiny_classifier.test_accuracy > 0.7  # 10% is chance
  test = data.load_split('mnist_5k', 'test')
  features, probs = tiny_classifier.features_and_probs(test.images)
  assert features.shape == (500, 128) and probs.shape == (500, 10)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
  assert tiny_classifier.test_accuracy == pytest.approx(
    np.mean(probs.argmax(axis=1) == test.labels)
  )
  # uint8 images and float pixels in [0, 1] give the same features.
  np.testing.assert_allclose(
    tiny_classifier.features_and_probs(test.images / 255.0)[0], features, rtol=1e-5, atol=1e-5
  )


def test_param_hash_identifies_the_weights(tiny_classifier):
  params = tiny_classifier.params
  assert classifier.param_hash(params) == tiny_classifier.sha256
  assert len(tiny_classifier.sha256) == 64
  changed = jax.tree.map(lambda x: x, params)
  changed['Dense_0']['bias'] = np.asarray(changed['Dense_0']['bias']).copy()
  changed['Dense_0']['bias'][0] += 1e-6
  assert classifier.param_hash(changed) != tiny_classifier.sha256


def test_classifier_cache_roundtrip_recipe_change_and_damage(
  tiny_classifier, tmp_path, monkeypatch
):
  cache = str(tmp_path / 'mnist_5k')
  recipe = tiny_classifier.recipe
  classifier.save(tiny_classifier, cache)
  loaded = classifier.load(cache, recipe)
  assert loaded.sha256 == tiny_classifier.sha256
  assert loaded.test_accuracy == tiny_classifier.test_accuracy
  jax.tree.map(np.testing.assert_array_equal, loaded.params, tiny_classifier.params)

  def no_training(*args, **kwargs):
    raise AssertionError('a cached classifier must not be retrained')

  monkeypatch.setattr(classifier, 'train', no_training)
  assert classifier.load_or_train('mnist_5k', cache_dir=cache, recipe=recipe).sha256 == (
    tiny_classifier.sha256
  )
  # Another recipe, or weights that no longer match their hash, are not used.
  assert classifier.load(cache, dataclasses.replace(recipe, epochs=3)) is None
  meta_path = os.path.join(cache, classifier.METADATA_FILE)
  with open(meta_path) as f:
    meta = json.load(f)
  meta['sha256'] = '0' * 64
  with open(meta_path, 'w') as f:
    json.dump(meta, f)
  assert classifier.load(cache, recipe) is None


def test_default_cache_dir(monkeypatch):
  monkeypatch.setenv('XDG_CACHE_HOME', '/x/cache')
  assert classifier.default_cache_dir('fashion_mnist') == (
    '/x/cache/gan_jax/classifiers/fashion_mnist'
  )


# --- The protocol, memorisation and figures ---------------------------------------------------

# Small KID subsets and 200-image sets throughout: the tests share compiled shapes.
KID = {'kid_subsets': 5, 'kid_subset_size': 100}


@pytest.fixture(scope='module')
def reference(tiny_classifier):
  return evaluation.prepare('mnist_5k', classifier=tiny_classifier)


def test_reference_uses_mnist_5k_validation_whole_and_says_so(reference):
  assert reference.validation.shape == (500, 784)
  assert 'all 500' in reference.validation_note
  assert reference.test.shape == (500, 784) and reference.train.shape == (4000, 784)
  assert 0.0 <= reference.train.min() and reference.train.max() <= 1.0


def test_choosing_on_validation_reads_the_test_split_only_to_train_a_classifier(
  tiny_classifier, monkeypatch, tmp_path
):
  """With its classifier (cached, or given as here) the reference for choosing never reads the
  test split. Training a classifier that is not cached does: its accuracy, reported beside the
  metrics and never used to choose, is measured on the test split."""
  loaded = []
  load_split = data.load_split
  monkeypatch.setattr(
    data,
    'load_split',
    lambda name, split, **kw: loaded.append(split) or load_split(name, split, **kw),
  )
  ref = evaluation.prepare('mnist_5k', against='validation', classifier=tiny_classifier)
  assert 'test' not in loaded and ref.against == 'validation'
  validation = load_split('mnist_5k', 'validation').images.reshape(500, -1) / np.float32(255)
  # σ on the first half (the split has fewer than 1,000), every metric on the other half.
  np.testing.assert_array_equal(ref.validation, validation[:250])
  np.testing.assert_array_equal(ref.test, validation[250:])
  assert ref.validation_note == 'the first 250 images of the validation split'
  assert ref.test_note == ('validation images 250..499 (250 images; the test split is not used)')
  # Without a cached classifier, the test split is read once, and goes to the classifier's
  # training as its held-out images only.
  loaded.clear()
  trained = []
  monkeypatch.setattr(
    classifier, 'train', lambda recipe, *arrays: trained.append(arrays) or tiny_classifier
  )
  again = evaluation.prepare('mnist_5k', against='validation', cache_dir=str(tmp_path / 'none'))
  assert loaded.count('test') == 1 and len(trained) == 1
  test = load_split('mnist_5k', 'test')
  np.testing.assert_array_equal(trained[0][2], test.images)
  np.testing.assert_array_equal(trained[0][3], test.labels)
  np.testing.assert_array_equal(again.test, ref.test)
  # The paper's protocol for a reported number: σ on validation, scores on test.
  selection, note, held_out, test_note = evaluation.held_out_sets('mnist_5k', 'test')
  assert len(selection) == 500 and len(held_out) == 500
  assert test_note == 'the test split (500 images)'
  with pytest.raises(ValueError, match='against must be one of'):
    evaluation.held_out_sets('mnist_5k', 'train')


def test_in_training_evaluation_compares_with_validation_by_default():
  assert make_test_config().eval_against == 'validation'


def test_real_images_in_place_of_samples_score_like_real_data(reference):
  real = protocol.real_data_metrics(reference, 200, **KID)
  # Training images against test images: no class missing, precision/recall high.
  assert real['coverage'] == 1.0 and real['class_kl'] < 0.05
  assert real['precision'] > 0.7 and real['recall'] > 0.7
  # A collapsed "generator" (one image repeated) is far worse on every metric.
  collapsed = np.repeat(reference.train[:1], 200, axis=0)
  fake = protocol.metrics_against_test(collapsed, reference, **KID)
  assert fake['frechet_distance'] > 10 * real['frechet_distance']
  assert fake['kid']['mean'] > 10 * real['kid']['mean']
  assert fake['coverage'] == 0.1 and fake['recall'] < 0.05
  assert fake['parzen']['ll'] < real['parzen']['ll']


def test_nearest_training_images_find_copies(reference):
  picks = np.array([5, 0, 3999, 17])
  sq, idx = neighbours.nearest_training_images(reference.train[picks], reference.train)
  np.testing.assert_array_equal(idx, picks)
  np.testing.assert_allclose(sq, 0.0, atol=1e-6)


def test_memorisation_summary_by_hand():
  summary = neighbours.memorisation_summary(
    np.array([4.0, 9.0, 16.0]), np.array([1.0, 4.0, 100.0, 25.0, 9.0])
  )
  assert summary['samples_median_l2'] == 3.0 and summary['test_median_l2'] == 3.0
  assert summary['samples_min_l2'] == 2.0 and summary['test_min_l2'] == 1.0
  assert summary['samples_closer_than_test_p01'] == 0.0


def test_figure2_layout_and_highlight():
  samples = np.random.default_rng(0).random((3, 4, 5, 6, 1))
  nearest = np.ones((3, 5, 6, 1))
  grid = figures.figure2_grid(samples, nearest, pad=2)
  assert grid.shape == (3 * 7 + 2, 5 * 8 + 2, 3)
  left = 2 + 4 * 8
  np.testing.assert_array_equal(grid[2:7, left : left + 6], 255)  # the neighbour cell
  np.testing.assert_array_equal(grid[1, left - 1 : left + 7], [figures.HIGHLIGHT] * 8)
  cell = np.round(samples[1, 2, :, :, 0] * 255).astype(np.uint8)
  np.testing.assert_array_equal(grid[2 + 7 : 7 + 7, 2 + 16 : 8 + 16, 0], cell)


def test_interpolation_in_z():
  z0, z1 = jnp.zeros((2, 3)), jnp.ones((2, 3)) * 2
  z = figures.interpolate_noise(z0, z1, 5)
  assert z.shape == (2, 5, 3)
  np.testing.assert_allclose(z[:, 0], z0)
  np.testing.assert_allclose(z[:, -1], z1)
  np.testing.assert_allclose(z[:, 2], 1.0)


# --- Samples from files -----------------------------------------------------------------------


def test_check_samples_accepts_the_documented_layouts():
  for shape in [(12, 28, 28, 1), (12, 784), (12, 28, 28)]:
    out = samples_lib.check_samples(np.full(shape, 0.5, np.float32), (28, 28, 1))
    assert out.shape == (12, 784) and out.dtype == np.float32
  nudged = np.full((12, 784), 1.0 + 1e-7, np.float64)
  assert samples_lib.check_samples(nudged, (28, 28, 1)).max() == 1.0


@pytest.mark.parametrize(
  'array, match',
  [
    (np.zeros((12, 28, 28, 1), np.uint8), 'dtype uint8'),
    (np.zeros((12, 32, 32, 3), np.float32), r'expected \[N, 28, 28, 1\]'),
    (np.zeros((3, 784), np.float32), 'at least'),
    (np.full((12, 784), 2.0, np.float32), r'divide \[0, 255\]'),
    (np.full((12, 784), -0.5, np.float32), r'\(x \+ 1\) / 2'),
    (np.full((12, 784), np.nan, np.float32), 'NaN'),
  ],
)
def test_check_samples_rejects_with_one_line(array, match):
  with pytest.raises(UserError, match=match) as info:
    samples_lib.check_samples(array, (28, 28, 1))
  assert '\n' not in str(info.value)


def test_load_samples_never_unpickles_and_names_the_file(tmp_path):
  pickled = str(tmp_path / 'objects.npy')
  np.save(pickled, np.array([{'a': 1}], dtype=object), allow_pickle=True)
  garbage = str(tmp_path / 'garbage.npy')
  with open(garbage, 'wb') as f:
    f.write(b'not an array')
  for path in (pickled, garbage, str(tmp_path / 'missing.npy')):
    with pytest.raises(UserError, match='--samples='):
      samples_lib.load_samples(path, (28, 28, 1))


# --- During training and from the command line ------------------------------------------------


def test_make_eval_fn_computes_the_reference_once(reference, monkeypatch):
  config = make_test_config()
  eval_fn = evaluation.make_eval_fn(config, num_samples=200, reference=reference, **KID)

  def no_prepare(*args, **kwargs):
    raise AssertionError('the reference must be prepared once, not at each evaluation')

  monkeypatch.setattr(protocol, 'prepare', no_prepare)
  monkeypatch.setattr(protocol, 'real_data_metrics', no_prepare)
  exp = assembly.setup(config)
  state = exp.init_state()
  first = eval_fn(exp.gan, state.g_params, 0)
  names = (*protocol.SCALARS, protocol.MEMORISATION)
  assert set(first) == set(names) | {f'real_data/{k}' for k in names}
  assert all(np.isfinite(v) for v in first.values())
  # Memorisation: the median nearest-training-image distance of the first 2,000 (here all 200)
  # samples, beside that of held-out images.
  samples = protocol.generate_samples(exp.gan, state.g_params, 200)
  sq, _ = neighbours.nearest_training_images(samples, reference.train)
  assert first[protocol.MEMORISATION] == pytest.approx(float(np.median(np.sqrt(sq))), rel=1e-6)
  held_out = reference.test[: protocol.MEMORISATION_SAMPLES]
  sq, _ = neighbours.nearest_training_images(held_out, reference.train)
  assert first[f'real_data/{protocol.MEMORISATION}'] == pytest.approx(
    float(np.median(np.sqrt(sq))), rel=1e-6
  )
  assert eval_fn(exp.gan, state.g_params, 10) == first  # the same noise at every evaluation
  # The samples are those experiments.evaluate draws from a checkpoint with the same seed.
  restored = sampling.Restored(config, exp.gan, state, 0, (28, 28, 1))
  np.testing.assert_allclose(
    restored.sample(200, seed=protocol.EVAL_SEED).reshape(200, -1),
    protocol.generate_samples(exp.gan, state.g_params, 200),
    atol=1e-6,
  )


@pytest.mark.parametrize('model', ['mnist_mlp', 'mnist_mlp_cgan'])
def test_an_evaluation_too_big_for_memory_is_refused_before_anything_is_drawn(
  reference, monkeypatch, model
):
  def drawn(*args, **kwargs):
    raise AssertionError('the memory check must come before the real-data row and the labels')

  monkeypatch.setattr(protocol, 'real_data_metrics', drawn)
  monkeypatch.setattr(sampling, 'class_mix_labels', drawn)
  config = make_test_config(f'--model={model}')
  with pytest.raises(UserError, match=r'--eval_num_samples=1000000000000 needs about'):
    evaluation.make_eval_fn(config, num_samples=10**12, reference=reference)


def test_evaluate_writes_json_markdown_and_figures(reference, tmp_path):
  rng = np.random.default_rng(0)
  samples = np.clip(
    reference.train[rng.choice(4000, 200, replace=False)] + rng.normal(0, 0.05, (200, 784)), 0, 1
  ).astype(np.float32)
  results, arrays = evaluation.evaluate(samples, reference, source='test', **KID)
  results['figures'] = evaluation.write_figures(str(tmp_path), samples, reference, arrays)
  evaluation.write(str(tmp_path), results)
  with open(tmp_path / 'eval.json') as f:
    saved = json.load(f)
  keys = (
    'parzen',
    'frechet_distance',
    'kid',
    'classifier_score',
    'coverage',
    'precision',
    'recall',
  )
  for key in keys:
    assert key in saved and key in saved['real_data']
  assert {'ll', 'se', 'sigma'} <= set(saved['parzen'])
  assert saved['classifier']['sha256'] == reference.classifier.sha256
  assert saved['num_samples'] == 200 and saved['dataset'] == 'mnist_5k'
  assert saved['memorisation']['num_samples'] == 200
  table = (tmp_path / 'eval.md').read_text()
  assert '| metric | model | real data |' in table and reference.classifier.sha256 in table
  assert table.count('\n|') == 2 + 9
  assert Image.open(tmp_path / report.FIGURE2_FILE).size == (7 * 30 + 2, 8 * 30 + 2)
  assert (tmp_path / report.HISTOGRAM_FILE).exists()


def test_evaluate_to_dir_is_the_evaluate_command_in_one_call(tiny_classifier, reference, tmp_path):
  """The library call behind experiments.evaluate: a samples file in, eval.json and eval.md
  out, the checkpoint-only arguments refused with the flags' names."""
  path = str(tmp_path / 'samples.npy')
  np.save(path, reference.train[:200].reshape(200, 28, 28, 1))
  classifier.save(tiny_classifier, str(tmp_path / 'cache'))  # found there: no training
  with pytest.raises(UserError, match='^--num_samples does not apply to --samples'):
    report.evaluate_to_dir(
      samples=path, dataset='mnist_5k', out_dir=str(tmp_path / 'refused'), num_samples=200
    )
  with pytest.raises(UserError, match='^pass exactly one of --workdir'):
    report.evaluate_to_dir(out_dir=str(tmp_path / 'refused'))
  assert not (tmp_path / 'refused').exists()
  results, out_dir = report.evaluate_to_dir(
    samples=path,
    dataset='mnist_5k',
    out_dir=str(tmp_path / 'eval'),
    cache_dir=str(tmp_path / 'cache'),
    classifier_epochs=1,
    kid_subsets=3,
  )
  assert out_dir == str(tmp_path / 'eval')
  with open(tmp_path / 'eval' / report.JSON_FILE) as f:
    saved = json.load(f)
  assert saved['source'] == f'samples file {os.path.abspath(path)}'
  assert saved['num_samples'] == 200 and saved['step'] is None
  assert saved['classifier']['sha256'] == tiny_classifier.sha256
  # No generator, so no Figure 3; the training images themselves sit at distance 0.
  assert set(saved['figures']) == {'figure2', 'nn_histogram'}
  assert saved['memorisation']['samples_median_l2'] == 0.0
  assert (tmp_path / 'eval' / report.MARKDOWN_FILE).read_text() == report.markdown(results)


def test_cli_rejects_bad_samples_with_one_line(tmp_path):
  path = str(tmp_path / 'bad.npy')
  np.save(path, np.zeros((20, 32, 32, 3), np.float32))
  result = run_module(
    'experiments.evaluate',
    f'--samples={path}',
    '--dataset=mnist_5k',
    f'--out_dir={tmp_path / "eval"}',
    timeout=120,
  )
  assert result.returncode == 2
  assert result.stderr.strip().count('\n') == 0 and 'shape (20, 32, 32, 3)' in result.stderr


def test_cli_evaluates_a_checkpoint(tiny_classifier, tmp_path):
  workdir = str(tmp_path / 'run')
  lone.train_and_evaluate(make_test_config('--num_steps=10'), workdir)
  classifier.save(tiny_classifier, str(tmp_path / 'cache'))  # found there: no training
  result = run_module(
    'experiments.evaluate',
    f'--workdir={workdir}',
    '--num_samples=200',
    '--classifier_epochs=1',
    f'--cache_dir={tmp_path / "cache"}',
    '--kid_subsets=3',
    timeout=240,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(workdir, 'eval.json')) as f:
    saved = json.load(f)
  assert saved['step'] == 10 and saved['num_samples'] == 200
  assert saved['classifier']['sha256'] == tiny_classifier.sha256
  assert set(saved['figures']) == {'figure2', 'figure3', 'nn_histogram'}
  figure3 = Image.open(os.path.join(workdir, report.FIGURE3_FILE))
  assert figure3.size == (11 * 29 + 1, 10 * 29 + 1)  # 10 pairs x 11 steps
  assert os.path.exists(tmp_path / 'cache' / classifier.METADATA_FILE)
