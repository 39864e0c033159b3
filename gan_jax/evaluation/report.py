"""A full evaluation written to disk: eval.json, eval.md (model | real data) and the figures."""

import json
import os
import time

import numpy as np

from gan_jax.base import files
from gan_jax.evaluation import figures, protocol
from gan_jax.game import preprocess
from gan_jax.runtime import images as image_io

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
  **kid,
) -> tuple[dict, dict]:
  """Every metric of `samples` and of real data, and the memorisation check.

  Args:
    samples: [N, ...] pixels in [0, 1].
    ref: the data set's Reference.
    step: the checkpoint step, if any.
    source: where the samples come from (recorded).
    with_memorisation: compute nearest training images (N x train-size matmul).
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
  generator, Figure 3 (interpolations in z). Returns {name: file name}."""
  os.makedirs(out_dir, exist_ok=True)
  written = {}
  x = np.asarray(samples, np.float32).reshape(-1, *ref.image_shape)
  if arrays:
    rows = min(FIGURE2_ROWS, x.shape[0] // FIGURE2_COLUMNS)
    if rows:
      # The first draws, in order: not cherry-picked.
      shown = x[: rows * FIGURE2_COLUMNS].reshape(rows, FIGURE2_COLUMNS, *ref.image_shape)
      last = np.arange(rows) * FIGURE2_COLUMNS + FIGURE2_COLUMNS - 1
      nearest = ref.train[arrays['sample_index'][last]].reshape(rows, *ref.image_shape)
      image_io.save_png(os.path.join(out_dir, FIGURE2_FILE), figures.figure2_grid(shown, nearest))
      written['figure2'] = FIGURE2_FILE
    figures.save_distance_histogram(
      os.path.join(out_dir, HISTOGRAM_FILE), arrays['sample_sq'], arrays['test_sq']
    )
    written['nn_histogram'] = HISTOGRAM_FILE
  if gan is not None:
    figures.save_figure3(
      os.path.join(out_dir, FIGURE3_FILE),
      figures.figure3_images(gan, g_params, seed=seed, image_shape=ref.image_shape),
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
