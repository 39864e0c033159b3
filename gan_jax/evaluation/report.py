"""A full evaluation written to disk: eval.json, eval.md (model | real data) and the figures;
`evaluate_to_dir` is the evaluate command as one call."""

import json
import os
import time

import numpy as np

from gan_jax import data
from gan_jax.base import files
from gan_jax.base.errors import UserError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import figures as figures_lib
from gan_jax.evaluation import metrics, neighbours, parzen, protocol
from gan_jax.evaluation import samples as samples_lib
from gan_jax.game import preprocess
from gan_jax.runtime import images as image_io
from gan_jax.runtime import resources, sampling
from gan_jax.runtime import workdir as workdir_lib

JSON_FILE = 'eval.json'
MARKDOWN_FILE = 'eval.md'
FIGURE2_FILE = 'figure2_nearest_neighbours.png'
FIGURE3_FILE = 'figure3_interpolations.png'
HISTOGRAM_FILE = 'nn_distances.png'
# Figure 2's layout: rows of samples, then the nearest training image of each row's last one.
FIGURE2_ROWS, FIGURE2_COLUMNS = 8, 6


def evaluate(
  samples,
  ref: protocol.Reference,
  *,
  step: int | None = None,
  source: str = '',
  with_memorisation: bool = True,
  labels=None,
  **kid,
) -> tuple[dict, dict]:
  """Every metric of `samples` and of real data, and the memorisation check.

  Args:
    samples: [N, ...] pixels in [0, 1].
    ref: the data set's Reference.
    step: the checkpoint step, if any.
    source: where the samples come from (recorded).
    with_memorisation: compute nearest training images (N x train-size matmul).
    labels: the classes int [N] a conditional model's samples were drawn for: adds
      'conditional' (gan_jax.evaluation.conditional), beside its real-data row.
    **kid: kid_subsets / kid_subset_size.

  Returns:
    (results: the eval.json content, arrays: nearest-neighbour arrays for the figures).
  """
  start = time.perf_counter()
  x = np.asarray(samples, np.float32).reshape(len(samples), -1)
  results = {
    'dataset': ref.dataset,
    'step': step,
    'source': source,
    'num_samples': int(x.shape[0]),
    **protocol.metrics_against_test(x, ref, **kid),
    'real_data': protocol.real_data_metrics(ref, x.shape[0], **kid),
    'classifier': {**ref.classifier.info(), 'features': int(ref.test_features.shape[1])},
    'compared_with': ref.test_note,
    'parzen_validation': ref.validation_note,
    'preprocessing': ref.preprocessing,
  }
  del results['num_images']
  if labels is not None:
    results['conditional'] = {
      **protocol.conditional_against_test(x, labels, ref),
      'real_data': protocol.real_conditional_metrics(ref, x.shape[0]),
    }
  arrays = {}
  if with_memorisation:
    arrays = protocol.memorisation(x, ref)
    results['memorisation'] = arrays.pop('summary')
  results['seconds'] = round(time.perf_counter() - start, 2)
  return results, arrays


def write(out_dir: str, results: dict) -> None:
  """eval.json and eval.md into out_dir, atomically."""
  os.makedirs(out_dir, exist_ok=True)
  files.write_text(
    os.path.join(out_dir, JSON_FILE),
    json.dumps(files.to_jsonable(results), indent=2, sort_keys=True) + '\n',
  )
  files.write_text(os.path.join(out_dir, MARKDOWN_FILE), markdown(results))


def write_figures(
  out_dir: str,
  samples: np.ndarray,
  ref: protocol.Reference,
  arrays: dict,
  *,
  gan=None,
  g_params=None,
  seed: int = 0,
) -> dict[str, str]:
  """Figure 2 (fair draws + nearest training images), the distance histogram and, given a
  generator, Figure 3 (interpolations in z). A conditional generator's Figure 2 has one row
  per class and its Figure 3 holds each row's class fixed. Returns {name: file name}."""
  os.makedirs(out_dir, exist_ok=True)
  written = {}
  x = np.asarray(samples, np.float32).reshape(-1, *ref.image_shape)
  conditional = gan is not None and gan.conditional
  if arrays:
    rows = min(FIGURE2_ROWS, x.shape[0] // FIGURE2_COLUMNS)
    if conditional:  # fresh draws, a row per class
      rows = gan.num_classes
      labels = np.repeat(np.arange(rows, dtype=np.int32), FIGURE2_COLUMNS)
      drawn = sampling.draw(gan, g_params, len(labels), seed=seed, labels=labels, shown=True)
      x = drawn.reshape(-1, *ref.image_shape)
    if rows:
      # The first draws, in order: not cherry-picked.
      shown = x[: rows * FIGURE2_COLUMNS].reshape(rows, FIGURE2_COLUMNS, *ref.image_shape)
      last = np.arange(rows) * FIGURE2_COLUMNS + FIGURE2_COLUMNS - 1
      if conditional:
        _, index = neighbours.nearest_training_images(shown[:, -1].reshape(rows, -1), ref.train)
      else:
        index = arrays['sample_index'][last]
      nearest = ref.train[index].reshape(rows, *ref.image_shape)
      image_io.save_png(
        os.path.join(out_dir, FIGURE2_FILE), figures_lib.figure2_grid(shown, nearest)
      )
      written['figure2'] = FIGURE2_FILE
    figures_lib.save_distance_histogram(
      os.path.join(out_dir, HISTOGRAM_FILE), arrays['sample_sq'], arrays['test_sq']
    )
    written['nn_histogram'] = HISTOGRAM_FILE
  if gan is not None:
    figures_lib.save_figure3(
      os.path.join(out_dir, FIGURE3_FILE),
      figures_lib.figure3_images(gan, g_params, seed=seed, image_shape=ref.image_shape),
    )
    written['figure3'] = FIGURE3_FILE
  return written


def markdown(results: dict) -> str:
  """The table: one row per metric, columns model | real data."""
  real = results['real_data']
  clf = results['classifier']

  def parzen(r):
    p = r['parzen']
    return f'{p["ll"]:.1f} ± {p["se"]:.1f} (σ = {p["sigma"]:.3f})'

  def kid(r):
    return f'{r["kid"]["mean"]:.4f} ± {r["kid"]["std"]:.4f}'

  rows = [
    ('Parzen log-likelihood (nats) ↑ [Table 1]', parzen(results), parzen(real)),
    ('Fréchet distance ↓', f'{results["frechet_distance"]:.3f}', f'{real["frechet_distance"]:.3f}'),
    ('KID ↓ (mean ± std over subsets)', kid(results), kid(real)),
    ('classifier score ↑', f'{results["classifier_score"]:.3f}', f'{real["classifier_score"]:.3f}'),
    ('class coverage ↑', f'{results["coverage"]:.2f}', f'{real["coverage"]:.2f}'),
    ('class KL to the test mix (nats) ↓', f'{results["class_kl"]:.4f}', f'{real["class_kl"]:.4f}'),
    ('precision (k=3) ↑', f'{results["precision"]:.3f}', f'{real["precision"]:.3f}'),
    ('recall (k=3) ↑', f'{results["recall"]:.3f}', f'{real["recall"]:.3f}'),
  ]
  cond = results.get('conditional')
  if cond:
    rows += [
      (
        'conditional accuracy ↑ (samples classified as the class asked for)',
        f'{cond["conditional_accuracy"]:.4f}',
        f'{cond["real_data"]["conditional_accuracy"]:.4f} (held-out accuracy)',
      ),
      (
        'mean per-class Fréchet distance ↓',
        f'{cond["mean_class_frechet_distance"]:.3f}',
        f'{cond["real_data"]["mean_class_frechet_distance"]:.3f}',
      ),
    ]
  mem = results.get('memorisation')
  if mem:
    rows.append(
      (
        'median L2 to the nearest training image',
        f'{mem["samples_median_l2"]:.3f}',
        f'{mem["test_median_l2"]:.3f} (test images)',
      )
    )
  step = results.get('step')
  lines = [
    f'# Evaluation: {results["dataset"]}' + (f', step {step}' if step is not None else ''),
    '',
    f'Source: {results.get("source") or "samples"}; {results["num_samples"]} samples. '
    f'Every metric compares with {results["compared_with"]}. Real data: {real["source"]}.',
    f'Parzen σ chosen on {results["parzen_validation"]}, from numpy.logspace(-1, 0, 10).',
    *(
      [f'Images are measured as shown: {preprocess.display_note("gcn")}.']
      if results.get('preprocessing') == 'gcn'
      else []
    ),
    f'Classifier (features of FD, KID, precision/recall): test accuracy '
    f'{clf["test_accuracy"]:.4f}, {clf["features"]} features, sha256 `{clf["sha256"]}`.',
    '',
    '| metric | model | real data |',
    '|---|---|---|',
    *(f'| {name} | {model} | {ref} |' for name, model, ref in rows),
    '',
  ]
  return '\n'.join(lines)


def evaluate_to_dir(
  *,
  workdir: str | None = None,
  samples: str | None = None,
  out_dir: str | None = None,
  dataset: str | None = None,
  step: int | None = None,
  num_samples: int | None = None,
  against: str = 'test',
  seed: int = 0,
  preprocessing: str | None = None,
  data_dir: str | None = None,
  manual_dir: str | None = None,
  cache_dir: str | None = None,
  classifier_epochs: int | None = None,
  kid_subsets: int = metrics.KID_SUBSETS,
  kid_subset_size: int = metrics.KID_SUBSET_SIZE,
  memorisation: bool = True,
  figures: bool = True,
  raw_generator: bool = False,
  overwrite: bool = False,
) -> tuple[dict, str]:
  """Evaluates a checkpoint (`workdir`) or a samples file (`samples`) and writes eval.json,
  eval.md and the figures: the evaluate command, its flags as arguments (the names its error
  messages give).

  Args:
    workdir: a training workdir; its checkpoint (`step`, default the newest) is sampled.
    samples: a .npy of float [N, H, W, C] or [N, H*W*C] in [0, 1], instead of `workdir`.
    out_dir: where the files go (default `workdir`; required with `samples`).
    dataset: the data set to compare with (default the checkpoint's; required with `samples`).
    step, num_samples: the checkpoint step and how many samples to draw from it (None: the
      newest, parzen.NUM_SAMPLES); refused with `samples`, whose file is evaluated as it is.
    against, seed, preprocessing, data_dir, manual_dir, cache_dir, classifier_epochs,
      kid_subsets, kid_subset_size, memorisation, figures, raw_generator: as the flags say
      (None: the checkpoint's config, else the data set's default).
    overwrite: replace an earlier eval.json and eval.md in `out_dir`.

  Returns:
    (results: eval.json's content, out_dir).
  """
  if (workdir is None) == (samples is None):
    raise UserError('pass exactly one of --workdir (a checkpoint) or --samples (a .npy file)')
  if samples is not None and (dataset is None or out_dir is None):
    raise UserError('--samples needs --dataset (which data set to compare with) and --out_dir')
  ignored = [f'--{n}' for n, v in (('step', step), ('num_samples', num_samples)) if v is not None]
  if samples is not None and ignored:
    raise UserError(
      f'{" and ".join(ignored)} {"do" if len(ignored) > 1 else "does"} not apply to --samples '
      '(they choose a checkpoint and draw from its generator; the file is evaluated as it '
      'is): drop them, or evaluate --workdir instead'
    )
  if workdir == '' or samples == '':
    raise UserError(
      f'--{"workdir" if workdir == "" else "samples"} is empty (an unset '
      'shell variable?); pass a path'
    )
  num_samples = parzen.NUM_SAMPLES if num_samples is None else num_samples
  out_dir = workdir if out_dir is None else out_dir
  # Only into a new directory, an evaluation's or a run's; an earlier report only on request.
  workdir_lib.check(out_dir, (workdir_lib.EVAL, workdir_lib.RUN), '--out_dir')
  if os.path.exists(os.path.join(out_dir, JSON_FILE)) and not overwrite:
    raise UserError(
      f'--out_dir={out_dir} already holds {JSON_FILE}; pass --overwrite to '
      'replace it, or another --out_dir'
    )
  gan = g_params = config = labels = None
  if workdir is not None:
    restored = sampling.restore(workdir, step, raw=raw_generator)
    config, gan, g_params, step = restored.config, restored.gan, restored.g_params, restored.step
    dataset = dataset or config.dataset
    if data.image_shape(dataset) != tuple(restored.image_shape):
      raise UserError(
        f'--dataset={dataset} has images of shape {data.image_shape(dataset)}, the '
        f'checkpoint makes {tuple(restored.image_shape)}; pick a matching data set'
      )
    resources.check_evaluation(f'--num_samples={num_samples}', num_samples, restored.image_shape)
    if restored.gan.conditional:  # labels in the training split's class mix
      labels = sampling.class_mix_labels(restored.class_mix, num_samples, seed=seed)
    images = restored.sample(num_samples, seed=seed, labels=labels)
    which = 'the average of G' if restored.averaged else 'G'
    source = f'checkpoint {os.path.abspath(workdir)} step {step} ({which}), seed {seed}'
  else:
    images = samples_lib.load_samples(samples, data.image_shape(dataset))
    source = f'samples file {os.path.abspath(samples)}'
  workdir_lib.claim(out_dir, (workdir_lib.EVAL, workdir_lib.RUN), '--out_dir')

  def from_config(value, name):
    if value is not None:
      return value
    return (getattr(config, name) or None) if config is not None else None

  preprocessing = preprocessing or (
    config.resolved_preprocessing if config is not None else 'pixels'
  )
  recipe = classifier_lib.Recipe.for_dataset(
    dataset, **({'epochs': classifier_epochs} if classifier_epochs else {})
  )
  ref = protocol.prepare(
    dataset,
    against=against,
    data_dir=from_config(data_dir, 'data_dir'),
    manual_dir=from_config(manual_dir, 'manual_dir'),
    cache_dir=cache_dir,
    recipe=recipe,
    preprocessing=preprocessing,
  )
  results, arrays = evaluate(
    images,
    ref,
    step=step,
    source=source,
    with_memorisation=memorisation,
    labels=labels,
    kid_subsets=kid_subsets,
    kid_subset_size=kid_subset_size,
  )
  if figures:
    results['figures'] = write_figures(
      out_dir, images, ref, arrays, gan=gan, g_params=g_params, seed=seed
    )
  write(out_dir, results)
  return results, out_dir
