"""The evaluation protocol: what is compared with what, computed once per data set.

Every metric compares a set of images with held-out real images and is computed twice: for the
samples, and for real training images in their place (the reference row: what a perfect generator
would reach, up to sampling noise). Parzen's σ is chosen on validation data.

What the held-out images are is the one choice (`against`):
  'test': the paper's protocol, for a reported number: σ on the first 1,000 validation images,
    every metric against the test split. Compute it once, for the model chosen.
  'validation': for choosing (checkpoints, sweep members, early stopping): σ on the first 1,000
    validation images (half the split if it is smaller), every metric against the rest of the
    validation split. The test split is never read.

Every metric measures images as they are shown, in [0, 1] (`preprocessing`):
  'pixels': samples are G's pixels (a linear output clipped), real images uint8 / 255.
  'gcn': a GCN model's samples exist only up to each image's brightness and contrast, so they
    are shown stretched per image onto [0, 1] (GAN.to_display), and every real image (training,
    validation, test: the reference row's, Parzen's and the nearest neighbours') goes through the
    same GCN and stretch, which is its raw pixels stretched (gan_jax.game.preprocess). Samples
    and real images are then measured in one space, and the reference row is what a perfect GCN
    generator would reach there. The classifier stretches its input anyway (classifier.py).
"""

import dataclasses
import time

import numpy as np

from gan_jax import data
from gan_jax.base import log
from gan_jax.base.config import Config
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import conditional, metrics, neighbours, parzen
from gan_jax.game import models, preprocess
from gan_jax.runtime import resources, sampling

# The noise of evaluation samples, apart from training and grid noise.
EVAL_SEED = 0
# Scalars logged during training, in this order.
SCALARS = (
  'parzen_ll',
  'frechet_distance',
  'kid',
  'classifier_score',
  'precision',
  'recall',
  'coverage',
  'class_kl',
)
# A conditional model's evaluation adds these (gan_jax.evaluation.conditional).
CONDITIONAL_SCALARS = ('conditional_accuracy', 'mean_class_frechet_distance')
AGAINST = ('validation', 'test')
# Memorisation during training: the median distance to the nearest training image of this many
# samples, beside that of as many held-out real images (a median of 2,000 is within about 1% of
# that of 10,000, at a fifth of the cost).
MEMORISATION_SAMPLES = 2000
MEMORISATION = 'nn_median_l2'


@dataclasses.dataclass(frozen=True, eq=False)
class Reference:
  """A data set's real images and their statistics: everything an evaluation compares against.

  Attributes:
    dataset: the data set's name.
    against: 'test' or 'validation' (module docstring): which split `test` comes from.
    image_shape: (H, W, C).
    classifier: the evaluation classifier.
    train: float32 [N, D] training pixels in [0, 1] (nearest neighbours, the reference row).
    validation: float32 [V, D], the Parzen σ-selection set.
    validation_note: which validation images those are.
    test: float32 [T, D], the held-out set every metric compares with (the test split, or the
      validation images not in `validation`).
    test_note: which images those are.
    test_features, test_probs: the classifier on `test`.
    test_gaussian: mean and covariance of `test_features` (FD).
    test_class_mix: share of `test` predicted as each class (coverage).
    test_radii: squared k-NN radii of `test_features` (precision).
    preprocessing: 'pixels' or 'gcn': the space images are measured in (module docstring).
    train_labels, test_labels: int32 labels of `train` and `test` (conditional metrics).
  """

  dataset: str
  against: str
  image_shape: tuple[int, int, int]
  classifier: classifier_lib.Classifier
  train: np.ndarray
  validation: np.ndarray
  validation_note: str
  test: np.ndarray
  test_note: str
  test_features: np.ndarray
  test_probs: np.ndarray
  test_gaussian: metrics.Gaussian
  test_class_mix: np.ndarray
  test_radii: np.ndarray
  preprocessing: str = 'pixels'
  train_labels: np.ndarray | None = None
  test_labels: np.ndarray | None = None

  @property
  def num_classes(self) -> int:
    return self.test_probs.shape[1]

  @property
  def class_mix(self) -> np.ndarray:
    """The training split's class frequencies: the labels of samples that stand for the data."""
    return data.class_mix(self.train_labels, self.num_classes)


def _pixels(images_uint8: np.ndarray, preprocessing: str = 'pixels') -> np.ndarray:
  """Real images as float32 [N, D] in [0, 1], as `preprocessing`'s samples are shown."""
  x = (np.asarray(images_uint8).reshape(len(images_uint8), -1) / np.float32(255.0)).astype(
    np.float32
  )
  if preprocessing == 'gcn':
    return preprocess.stretch(x)  # = the stretch of the image's GCN (GCN is a positive affine map)
  if preprocessing != 'pixels':
    raise ValueError(f'preprocessing must be pixels or gcn, got {preprocessing!r}')
  return x


def held_out_sets(
  dataset: str, against: str = 'test', *, data_dir: str | None = None, manual_dir: str | None = None
) -> tuple[np.ndarray, str, np.ndarray, str]:
  """The σ-selection images and the held-out images every metric compares with.

  Args:
    dataset: a data set name.
    against: 'test' (the paper's protocol) or 'validation' (for selection; see the module
      docstring).
    data_dir, manual_dir: passed to data.load_split.

  Returns:
    (selection uint8 [V, H, W, C], its note, held-out uint8 [T, H, W, C], its note); the
    held-out images' labels are held_out_labels(...).
  """
  if against not in AGAINST:
    raise ValueError(f'against must be one of {AGAINST}, got {against!r}')
  load = lambda split: (
    data.load_split(dataset, split, data_dir=data_dir, manual_dir=manual_dir).images
  )
  validation = load('validation')
  if against == 'test':
    selection = validation[: parzen.NUM_VALIDATION]
    if len(selection) < parzen.NUM_VALIDATION:
      note = (
        f'all {len(selection)} images of the validation split (it has fewer than the '
        f"original code's {parzen.NUM_VALIDATION})"
      )
    else:
      note = f'the first {parzen.NUM_VALIDATION} images of the validation split'
    held_out = load('test')
    return selection, note, held_out, f'the test split ({len(held_out)} images)'
  # Selecting on validation: σ and the scores must come from disjoint images, else the score of
  # the chosen σ is biased upwards.
  num = min(parzen.NUM_VALIDATION, len(validation) // 2)
  return (
    validation[:num],
    f'the first {num} images of the validation split',
    validation[num:],
    f'validation images {num}..{len(validation) - 1} '
    f'({len(validation) - num} images; the test split is not used)',
  )


def held_out_labels(
  dataset: str, against: str = 'test', *, data_dir: str | None = None, manual_dir: str | None = None
) -> np.ndarray:
  """The labels int32 [T] of held_out_sets(...)'s held-out images, in their order."""
  if against not in AGAINST:
    raise ValueError(f'against must be one of {AGAINST}, got {against!r}')
  if against == 'test':
    return data.load_split(dataset, 'test', data_dir=data_dir, manual_dir=manual_dir).labels
  labels = data.load_split(dataset, 'validation', data_dir=data_dir, manual_dir=manual_dir).labels
  return labels[min(parzen.NUM_VALIDATION, len(labels) // 2) :]


def prepare(
  dataset: str,
  *,
  against: str = 'test',
  data_dir: str | None = None,
  manual_dir: str | None = None,
  cache_dir: str | None = None,
  classifier: classifier_lib.Classifier | None = None,
  recipe: classifier_lib.Recipe | None = None,
  preprocessing: str = 'pixels',
) -> Reference:
  """Loads the splits and the classifier (training it if not cached), and computes the test
  statistics. The heavy part of an evaluation: do it once per data set.

  Args:
    dataset: a data set name.
    against: 'test' (report) or 'validation' (select); see the module docstring.
    data_dir, manual_dir: passed to data.load_split.
    cache_dir: the classifier's cache (default classifier.default_cache_dir(dataset)).
    classifier: use this classifier instead of the cached/trained one.
    recipe: the classifier's training recipe (default: the data set's).
    preprocessing: the samples' preprocessing, 'pixels' or 'gcn' (Config.resolved_preprocessing):
      real images are measured as its samples are shown (module docstring).
  """
  if preprocessing not in ('pixels', 'gcn'):  # before any loading
    raise ValueError(f'preprocessing must be pixels or gcn, got {preprocessing!r}')
  train = data.load_split(dataset, 'train', data_dir=data_dir, manual_dir=manual_dir)
  validation, validation_note, held_out, test_note = held_out_sets(
    dataset, against, data_dir=data_dir, manual_dir=manual_dir
  )
  if classifier is None:
    classifier = classifier_lib.load_or_train(
      dataset, cache_dir=cache_dir, data_dir=data_dir, manual_dir=manual_dir, recipe=recipe
    )
  test = _pixels(held_out, preprocessing)
  features, probs = classifier.features_and_probs(test)
  return Reference(
    dataset=dataset,
    against=against,
    image_shape=tuple(train.image_shape),
    classifier=classifier,
    train=_pixels(train.images, preprocessing),
    validation=_pixels(validation, preprocessing),
    validation_note=validation_note,
    test=test,
    test_note=test_note,
    test_features=features,
    test_probs=probs,
    test_gaussian=metrics.Gaussian.fit(features),
    test_class_mix=metrics.class_histogram(probs, probs.shape[1]),
    test_radii=metrics.knn_radii(features),
    preprocessing=preprocessing,
    train_labels=train.labels,
    test_labels=held_out_labels(dataset, against, data_dir=data_dir, manual_dir=manual_dir),
  )


def metrics_against_test(
  images,
  ref: Reference,
  *,
  kid_subsets: int = metrics.KID_SUBSETS,
  kid_subset_size: int = metrics.KID_SUBSET_SIZE,
  seed: int = 0,
) -> dict:
  """Every metric of a set of images (samples, or real images for the reference row).

  Args:
    images: [N, ...] pixels in [0, 1], as shown (ref.preprocessing; module docstring).
    ref: the data set's Reference.
    kid_subsets, kid_subset_size, seed: KID's subsets.

  Returns:
    {'parzen': {...}, 'frechet_distance', 'kid': {'mean', 'std', ...}, 'classifier_score',
     'coverage', 'class_kl', 'precision', 'recall', 'num_images'}.
  """
  x = np.asarray(images, np.float32).reshape(len(images), -1)
  p = parzen.parzen_estimate(x, ref.validation, ref.test)
  features, probs = ref.classifier.features_and_probs(x)
  kid_mean, kid_std = metrics.kernel_distance(
    features, ref.test_features, num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
  )
  return {
    'parzen': p.to_dict(),
    'frechet_distance': metrics.frechet_distance(metrics.Gaussian.fit(features), ref.test_gaussian),
    # std: the spread of single-subset estimates, as Bińkowski et al. report it. Subsets
    # overlap, so std / √subsets would understate the mean's uncertainty.
    'kid': {
      'mean': kid_mean,
      'std': kid_std,
      'subsets': kid_subsets,
      'subset_size': min(kid_subset_size, len(features), len(ref.test_features)),
    },
    'classifier_score': metrics.classifier_score(probs),
    **metrics.coverage(probs, ref.test_class_mix),
    **metrics.precision_recall(ref.test_features, features, real_radii=ref.test_radii),
    'num_images': int(x.shape[0]),
  }


def real_images(ref: Reference, num: int, *, seed: int = 0) -> tuple[np.ndarray, str]:
  """`num` training images drawn at random without replacement (all if fewer), and a note."""
  num = min(num, ref.train.shape[0])
  return _draw(ref.train, num, seed), (
    f'{num} training images drawn at random (seed {seed}) in place of samples'
  )


def _rows(num_rows: int, num: int, seed: int) -> np.ndarray:
  """`num` row indices of `num_rows` (all if fewer) at random without replacement, sorted."""
  return np.sort(np.random.default_rng(seed).choice(num_rows, min(num, num_rows), replace=False))


def _draw(train: np.ndarray, num: int, seed: int) -> np.ndarray:
  """`num` rows of `train` (all if fewer) at random without replacement, in their order."""
  return train[_rows(train.shape[0], num, seed)]


def conditional_against_test(images, labels, ref: Reference) -> dict:
  """The conditional metrics (gan_jax.evaluation.conditional) of images drawn for `labels`."""
  features, probs = ref.classifier.features_and_probs(
    np.asarray(images, np.float32).reshape(len(images), -1)
  )
  return conditional.conditional_metrics(
    features, probs, np.asarray(labels), ref.test_features, ref.test_labels
  )


def real_conditional_metrics(ref: Reference, num: int, *, seed: int = 0) -> dict:
  """The conditional metrics' reference row: conditional accuracy is the classifier's accuracy
  on the held-out images (a perfect conditional G would reach it, no more: the classifier errs
  on real images too); the per-class FDs are those of real_images' training images, each
  class against the held-out images of its class."""
  rows = _rows(ref.train.shape[0], num, seed)
  return {
    **conditional_against_test(ref.train[rows], ref.train_labels[rows], ref),
    'conditional_accuracy': conditional.accuracy(ref.test_probs, ref.test_labels),
  }


def real_data_metrics(ref: Reference, num: int, *, seed: int = 0, **kid) -> dict:
  """The reference row: metrics_against_test on `num` random training images."""
  images, note = real_images(ref, num, seed=seed)
  return {**metrics_against_test(images, ref, seed=seed, **kid), 'source': note}


def memorisation(samples, ref: Reference) -> dict:
  """Nearest training images of the samples and of the test images (pixel space, as shown).

  Returns:
    {'summary': memorisation_summary(...), 'sample_sq', 'sample_index', 'test_sq'} (arrays).
  """
  sample_sq, sample_index = neighbours.nearest_training_images(samples, ref.train)
  test_sq, _ = neighbours.nearest_training_images(ref.test, ref.train)
  return {
    'summary': {
      **neighbours.memorisation_summary(sample_sq, test_sq),
      'num_train': int(ref.train.shape[0]),
    },
    'sample_sq': sample_sq,
    'sample_index': sample_index,
    'test_sq': test_sq,
  }


def scalars(result: dict) -> dict[str, float]:
  """The logged scalars (SCALARS) of a metrics_against_test result."""
  flat = {'parzen_ll': result['parzen']['ll'], 'kid': result['kid']['mean']}
  return {name: float(flat[name] if name in flat else result[name]) for name in SCALARS}


def generate_samples(
  gan, g_params, num: int, *, seed: int = EVAL_SEED, batch_size: int = 1000, labels=None
) -> np.ndarray:
  """`num` samples as float32 [num, D] in [0, 1]: sampling.draw, the noise of
  sampling.Restored.sample(seed), so evaluating a checkpoint and the in-training evaluation
  see the same samples (a conditional model's of classes `labels`)."""
  return sampling.draw(gan, g_params, num, seed=seed, batch_size=batch_size, labels=labels)


def make_eval_fn(
  config: Config,
  *,
  cache_dir: str | None = None,
  num_samples: int | None = None,
  seed: int = EVAL_SEED,
  reference: Reference | None = None,
  with_real_data: bool = True,
  **kid,
) -> sampling.EvalFn:
  """The evaluation to run every config.eval_every steps of train.train_and_evaluate.

  The Reference (data, classifier, test statistics) and the real-data row are computed here,
  once; each call only generates samples (the same noise every call, so curves compare like with
  like) and measures them.

  Args:
    config: the run's config (dataset, data_dir, manual_dir, eval_num_samples).
    cache_dir: the classifier cache (default: classifier.default_cache_dir(dataset)).
    num_samples: samples per evaluation (default config.eval_num_samples).
    seed: the noise seed of the evaluation samples.
    reference: a prepared Reference to reuse.
    with_real_data: also return the reference row's scalars as 'real_data/<name>'.
    **kid: kid_subsets / kid_subset_size of metrics_against_test.

  Returns:
    (gan, g_params, step) -> {name: value} for the names in SCALARS, and MEMORISATION: the
    median distance of MEMORISATION_SAMPLES samples to their nearest training images
    (real_data/nn_median_l2: that of as many held-out real images, which a generator that
    copies no more than new data does matches). A conditional model's samples are drawn with
    labels in the training split's class mix, and CONDITIONAL_SCALARS are added.
  """
  num = num_samples or config.eval_num_samples
  start = time.perf_counter()
  preprocessing = config.resolved_preprocessing
  if reference is not None and reference.preprocessing != preprocessing:
    raise ValueError(
      f'the reference measures {reference.preprocessing} images, the run makes {preprocessing} ones'
    )
  ref = reference or prepare(
    config.dataset,
    against=config.eval_against,
    data_dir=config.data_dir or None,
    manual_dir=config.manual_dir or None,
    cache_dir=cache_dir,
    preprocessing=preprocessing,
  )
  # Before the real-data row or the labels take memory of num samples' size.
  resources.check_evaluation(f'--eval_num_samples={num}', num, ref.test.shape[1:])
  conditional = models.get(config.model).conditional
  real = {}
  if with_real_data:
    real = {
      f'real_data/{k}': v for k, v in scalars(real_data_metrics(ref, num, seed=seed, **kid)).items()
    }
    real[f'real_data/{MEMORISATION}'] = _nn_median(ref.test, ref)
    if conditional:
      real_conditional = real_conditional_metrics(ref, num, seed=seed)
      real.update({f'real_data/{k}': real_conditional[k] for k in CONDITIONAL_SCALARS})
  labels = sampling.class_mix_labels(ref.class_mix, num, seed=seed) if conditional else None
  log.info(
    f'evaluation of {config.dataset} against {ref.test_note} ready in '
    f'{time.perf_counter() - start:.1f} s: '
    f'classifier test accuracy {ref.classifier.test_accuracy:.4f}, sha256 '
    f'{ref.classifier.sha256[:16]}; {num} samples per evaluation'
    + ''.join(f', {k} {v:.4g}' for k, v in real.items())
  )

  def eval_fn(gan, g_params, step: int) -> dict[str, float]:
    del step
    samples = sampling.as_shown(gan, generate_samples(gan, g_params, num, seed=seed, labels=labels))
    extra = {}
    if gan.conditional:
      result = conditional_against_test(samples, labels, ref)
      extra = {k: result[k] for k in CONDITIONAL_SCALARS}
    return {
      **scalars(metrics_against_test(samples, ref, seed=seed, **kid)),
      MEMORISATION: _nn_median(samples, ref),
      **extra,
      **real,
    }

  return eval_fn


def _nn_median(images: np.ndarray, ref: Reference) -> float:
  """Median L2 distance of the first MEMORISATION_SAMPLES `images` to their nearest training
  images."""
  sq, _ = neighbours.nearest_training_images(images[:MEMORISATION_SAMPLES], ref.train)
  return float(np.median(np.sqrt(np.maximum(sq, 0))))


def make_parzen_eval_fn(
  config: Config, *, num_samples: int | None = None, seed: int = EVAL_SEED
) -> sampling.EvalFn:
  """make_eval_fn's Parzen log-likelihood alone, with its reference row: no classifier.

  Args:
    config: the run's config (dataset, data_dir, manual_dir, eval_against, eval_num_samples).
    num_samples: samples per evaluation (default config.eval_num_samples).
    seed: the noise seed of the evaluation samples and of the real images' draw.

  Returns:
    (gan, g_params, step) -> {'parzen_ll', 'parzen_se', 'real_data/parzen_ll',
    'real_data/parzen_se'}.
  """
  num = num_samples or config.eval_num_samples
  dirs = dict(data_dir=config.data_dir or None, manual_dir=config.manual_dir or None)
  view = config.resolved_preprocessing
  selection, _, held_out, _ = held_out_sets(config.dataset, config.eval_against, **dirs)
  selection, held_out = _pixels(selection, view), _pixels(held_out, view)
  resources.check_evaluation(f'--eval_num_samples={num}', num, selection.shape[1:])
  train_split = data.load_split(config.dataset, 'train', **dirs)
  train = _pixels(train_split.images, view)
  real = parzen.parzen_estimate(_draw(train, num, seed), selection, held_out)
  labels = None
  if models.get(config.model).conditional:
    mix = data.class_mix(train_split.labels, data.num_classes(config.dataset))
    labels = sampling.class_mix_labels(mix, num, seed=seed)

  def eval_fn(gan, g_params, step: int) -> dict[str, float]:
    del step
    p = parzen.parzen_estimate(
      sampling.as_shown(gan, generate_samples(gan, g_params, num, seed=seed, labels=labels)),
      selection,
      held_out,
    )
    return {
      'parzen_ll': p.ll,
      'parzen_se': p.se,
      'real_data/parzen_ll': real.ll,
      'real_data/parzen_se': real.se,
    }

  return eval_fn
