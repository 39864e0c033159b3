"""Drawing samples from G, and from a checkpoint without the data or the training loop.

"As shown" is G's output as a person sees it and the evaluation measures it, [0, 1] per value
(GAN.to_display: a GCN model's samples stretched per image, a linear output clipped): the
grids, a restored checkpoint's samples, the figures and the metrics all get it from here
(`generate(shown=True)`, `draw`, `as_shown`).
"""

import dataclasses
import functools
from typing import Callable

import jax
import numpy as np

from gan_jax import data
from gan_jax.base.config import Config
from gan_jax.base.errors import UserError
from gan_jax.game.state import GAN, Params, TrainState, build_gan, create_train_state
from gan_jax.runtime import checkpoint, parallel

# An evaluation of G: (gan, g_params, step) -> scalars to log. The loop runs one every
# config.eval_every steps; gan_jax.evaluation makes them.
EvalFn = Callable[[GAN, Params, int], dict[str, float]]


@functools.lru_cache(maxsize=16)
def _generator(gan: GAN, mesh: jax.sharding.Mesh | None, members: bool, shown: bool):
  fn = gan.generate_display if shown else gan.generate
  fn = jax.vmap(fn) if members else fn
  if mesh is None:
    return jax.jit(fn)
  return jax.jit(fn, out_shardings=parallel.replicated(mesh))


def generate(
  gan: GAN,
  g_params: Params,
  z: jax.Array,
  labels: np.ndarray | None = None,
  *,
  mesh: jax.sharding.Mesh | None = None,
  members: bool = False,
  shown: bool = False,
) -> np.ndarray:
  """G(z) on the host, flat [N, data_dim] (compiled once per game).

  Args:
    gan: the game.
    g_params: G's parameters; with `members`, stacked [M, ...].
    z: noise [N, noise_dim]; with `members`, [M, N, noise_dim], each member on its own.
    labels: a conditional model's classes int [N] ([M, N] with `members`); None otherwise.
    mesh: where the parameters live, if across processes: the output is replicated on it, so
      every process reads it (every process must call).
    members: map over a leading member axis.
    shown: as shown (GAN.generate_display) instead of what D sees (GAN.generate).
  """
  return np.asarray(_generator(gan, mesh, members, shown)(g_params, z, labels))


def as_shown(gan: GAN, samples: np.ndarray) -> np.ndarray:
  """G's outputs float32 [N, D] (what D sees) as shown: a sigmoid output's pixels unchanged, a
  linear output's clipped, a GCN model's stretched per image."""
  if gan.preprocessing == 'pixels' and gan.output == 'sigmoid':
    return samples
  return np.asarray(jax.jit(gan.to_display)(samples), np.float32)


def draw(
  gan: GAN,
  g_params: Params,
  num: int,
  *,
  seed: int = 0,
  batch_size: int = 1000,
  shown: bool = False,
  labels: np.ndarray | None = None,
) -> np.ndarray:
  """`num` samples of G as float32 [num, data_dim], from fresh noise drawn from `seed`; as
  shown with `shown`.

  Batch b's noise is drawn from fold_in(PRNGKey(seed), b * batch_size): a sample depends on
  (seed, batch_size, its index) only, whoever draws it (sampling, evaluation). A conditional
  model draws sample i of class labels[i] (int [num]; see class_mix_labels).
  """
  if gan.conditional and (labels is None or len(labels) != num):
    raise ValueError(f'a conditional model draws {num} samples of {num} labels, got {labels}')
  key = jax.random.PRNGKey(seed)
  out = [
    generate(
      gan,
      g_params,
      gan.sample_noise(jax.random.fold_in(key, start), min(batch_size, num - start)),
      None if labels is None else np.asarray(labels[start : start + batch_size], np.int32),
      shown=shown,
    )
    for start in range(0, num, batch_size)
  ]
  if not out:
    return np.zeros((0, gan.generator.output_dim), np.float32)
  return np.concatenate(out).astype(np.float32, copy=False)


def class_mix_labels(class_mix: np.ndarray, num: int, *, seed: int = 0) -> np.ndarray:
  """`num` labels int32 drawn from the class prior `class_mix` (the training split's class
  frequencies): the condition of samples that stand for the data as a whole."""
  mix = np.asarray(class_mix, np.float64)
  return np.random.default_rng(seed).choice(len(mix), num, p=mix / mix.sum()).astype(np.int32)


def class_rows(num_classes: int, num: int) -> tuple[np.ndarray, int]:
  """Labels for a grid of `num` samples with one row per class: (int32 [num], columns).

  Row r holds class r (the last class takes any rows beyond num_classes): a grid of 100 over
  10 classes is 10 rows of 10 samples of one digit each.
  """
  columns = -(-num // num_classes)
  labels = np.minimum(np.arange(num) // columns, num_classes - 1).astype(np.int32)
  return labels, columns


ROWS = 'rows'


def parse_labels(text: str, num: int, num_classes: int, flag: str = '--labels'):
  """A command line's choice of classes for `num` samples: (labels int32 [num], grid columns).

  `text` is one class for every sample ('3'), one per sample ('3,3,7' for num 3), or 'rows' (a
  grid with one class per row, class_rows). Columns is None unless 'rows'.

  Raises:
    UserError: not a list of integers, a class outside 0..num_classes-1, or as many labels as
      neither 1 nor `num`.
  """
  if text.strip() == ROWS:
    return class_rows(num_classes, num)
  try:
    labels = [int(part) for part in text.split(',')]
  except ValueError:
    raise UserError(
      f'{flag}={text!r} is not a list of classes; pass integers such as {flag}=3,3,7, one '
      f'for every sample ({flag}=3), or {flag}={ROWS}'
    ) from None
  bad = [y for y in labels if not 0 <= y < num_classes]
  if bad:
    raise UserError(
      f'{flag}: {bad[0]} is not a class of this model (0..{num_classes - 1}); pass labels in '
      'that range'
    )
  if len(labels) not in (1, num):
    raise UserError(
      f'{flag} lists {len(labels)} labels for --num={num} samples; pass one per sample, one '
      f'for all, or {flag}={ROWS}'
    )
  return np.resize(np.asarray(labels, np.int32), num), None


@dataclasses.dataclass
class Restored:
  """A checkpoint restored for use: its config, game, whole state and step.

  `g_params` is the G it samples and evaluates: the run's average of G when it keeps one,
  unless `raw` (then, and in runs without an average, G itself).
  """

  config: Config
  gan: GAN
  state: TrainState
  step: int
  image_shape: tuple[int, int, int]
  raw: bool = False

  @property
  def g_params(self) -> Params:
    return self.state.generator_params(raw=self.raw)

  @property
  def averaged(self) -> bool:
    """Whether `g_params` is an average of G."""
    return self.state.g_average is not None and not self.raw

  @property
  def class_mix(self) -> np.ndarray | None:
    """A conditional model's class prior (its training split's class frequencies), else None."""
    mix = self.state.class_mix
    return None if mix is None else np.asarray(mix)

  def sample(self, num: int, *, seed: int = 0, batch_size: int = 1000, labels=None) -> np.ndarray:
    """`num` samples [num, H, W, C] in [0, 1] from fresh noise drawn from `seed` (see draw); a
    GCN model's contrast-stretched per image (GAN.to_display). A conditional model's are of
    classes `labels` (int [num]), or without them of labels drawn from its class mix."""
    if self.gan.conditional and labels is None:
      labels = class_mix_labels(self.class_mix, num, seed=seed)
    flat = draw(
      self.gan, self.g_params, num, seed=seed, batch_size=batch_size, shown=True, labels=labels
    )
    return flat.reshape(-1, *self.image_shape)


def restore(workdir: str, step: int | None = None, *, raw: bool = False) -> Restored:
  """Restores the newest readable (or the given) checkpoint of `workdir` onto this host's devices.

  Works whatever number of devices or processes wrote it: the arrays are read into a state laid
  out for the current devices. Unreadable checkpoints are skipped with a warning. `raw`: sample
  G itself even where the run keeps an average of it (see Restored).
  """
  mesh = parallel.make_mesh(jax.local_devices())
  games = {}

  def abstract_state(config: Config):
    shape = data.image_shape(config.dataset)
    gan = games[config] = build_gan(
      config, data_dim=int(np.prod(shape)), num_classes=data.num_classes(config.dataset)
    )
    # A linear-output model has no marginal bias to restore over.
    bias = np.zeros(gan.generator.output_dim, np.float32) if gan.output == 'sigmoid' else None
    mix = np.zeros(gan.num_classes, np.float32) if gan.conditional else None
    return checkpoint.abstract_like(
      jax.eval_shape(lambda b, m: create_train_state(gan, config.seed, b, m), bias, mix),
      parallel.replicated(mesh),
    )

  ckpt = checkpoint.Checkpointer(workdir, read_only=True)
  try:
    state, config, restored_step = ckpt.restore(abstract_state, step)
  finally:
    ckpt.close()
  shape = data.image_shape(config.dataset)
  return Restored(config, games[config], state, restored_step, shape, raw=raw)
