"""The paper's Figures 2 and 3, and the nearest-neighbour distance histogram."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.base import files
from gan_jax.runtime import images as image_io
from gan_jax.runtime import sampling

# The paper outlines the nearest-training-example column in yellow.
HIGHLIGHT = np.array([255, 220, 0], np.uint8)


def figure2_grid(samples: np.ndarray, nearest_train: np.ndarray, *, pad: int = 2) -> np.ndarray:
  """Figure 2: rows of samples, the rightmost column the nearest training image of its left
  neighbour, outlined in yellow.

  Args:
    samples: [rows, cols, H, W, C] in [0, 1], fair draws in the order they were drawn.
    nearest_train: [rows, H, W, C], the nearest training image of samples[r, -1].
    pad: pixels between cells (the outline is drawn in them).

  Returns:
    uint8 RGB [rows * (H + pad) + pad, (cols + 1) * (W + pad) + pad, 3].
  """
  rows, cols, h, w, c = samples.shape
  cells = np.concatenate([samples, nearest_train[:, None]], axis=1).reshape(-1, h, w, c)
  if c == 1:
    cells = np.repeat(cells, 3, axis=-1)
  grid = image_io.make_grid(cells, columns=cols + 1, pad=pad)
  left = pad + cols * (w + pad)
  for r in range(rows):
    top = pad + r * (h + pad)
    grid[top - 1, left - 1 : left + w + 1] = HIGHLIGHT
    grid[top + h, left - 1 : left + w + 1] = HIGHLIGHT
    grid[top - 1 : top + h + 1, left - 1] = HIGHLIGHT
    grid[top - 1 : top + h + 1, left + w] = HIGHLIGHT
  return grid


def interpolate_noise(z_start: jax.Array, z_end: jax.Array, steps: int) -> jax.Array:
  """Points on the segments z_start -> z_end: [pairs, steps, noise_dim], both ends included."""
  t = jnp.linspace(0.0, 1.0, steps)[None, :, None]
  return (1.0 - t) * z_start[:, None, :] + t * z_end[:, None, :]


def figure3_images(
  gan, g_params, *, pairs: int = 10, steps: int = 11, seed: int = 0, image_shape
) -> np.ndarray:
  """Figure 3: G along straight lines in z between random pairs of noise vectors; a conditional
  G's row r holds class r % num_classes fixed along its line.

  Returns:
    [pairs, steps, H, W, C] in [0, 1]: rows are pairs, columns interpolation steps.
  """
  key_start, key_end = jax.random.split(jax.random.PRNGKey(seed))
  z = interpolate_noise(gan.sample_noise(key_start, pairs), gan.sample_noise(key_end, pairs), steps)
  labels = None
  if gan.conditional:
    labels = np.repeat(np.arange(pairs, dtype=np.int32) % gan.num_classes, steps)
  flat = sampling.generate(gan, g_params, z.reshape(pairs * steps, -1), labels, shown=True)
  return flat.reshape(pairs, steps, *image_shape)


def save_figure3(path: str, interpolations: np.ndarray) -> None:
  pairs, steps = interpolations.shape[:2]
  image_io.save_grid(
    path, interpolations.reshape(pairs * steps, *interpolations.shape[2:]), columns=steps
  )


def save_distance_histogram(
  path: str, sample_sq: np.ndarray, test_sq: np.ndarray, *, title: str = ''
) -> None:
  """Histogram of nearest-training-image L2 distances: samples vs real test images."""
  # The object API on an Agg canvas, not pyplot: no global backend switch, no figure registry.
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  sample_l2, test_l2 = np.sqrt(np.maximum(sample_sq, 0)), np.sqrt(np.maximum(test_sq, 0))
  bins = np.linspace(0.0, max(sample_l2.max(), test_l2.max()) * 1.02 + 1e-9, 60)
  fig = Figure(figsize=(6, 3.6), dpi=120)
  FigureCanvasAgg(fig)
  ax = fig.subplots()
  for values, label in ((test_l2, 'real test images'), (sample_l2, 'samples')):
    ax.hist(values, bins=bins, density=True, alpha=0.55, label=f'{label} (n={len(values)})')
  for values, style in ((test_l2, '-'), (sample_l2, '--')):
    ax.axvline(np.median(values), color='k', linestyle=style, linewidth=1)
  ax.set_xlabel('L2 distance to the nearest training image (pixels in [0, 1])')
  ax.set_ylabel('density')
  ax.set_title(title or 'Memorisation check: nearest training image (lines: medians)', fontsize=9)
  ax.legend(fontsize=8)
  fig.tight_layout()
  files.atomic_write(path, fig.savefig)
