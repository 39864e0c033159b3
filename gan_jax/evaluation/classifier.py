"""The evaluation classifier: the feature space of FD, KID and precision/recall, and p(y|x).

Inception-v3 features suit ImageNet photographs, not 28x28 digits, so each data set gets its own
classifier, trained here on its train split and cached (orbax) with its test accuracy and a
sha256 of its parameters. Every report carries both: two numbers are comparable only when they
come from the same weights.

The architecture is per data set (`ARCHITECTURES`):
  'mlp' for the 28x28x1 sets: on a 2-core CPU, XLA's convolution gradients made a two-layer
    convnet take ~100 s per Fashion-MNIST epoch against ~3 s for this MLP, at 89% vs 89% test
    accuracy after a few epochs.
  'convnet' for CIFAR-10 (32x32x3), where an MLP on pixels is a poor judge of natural images:
    conv32-conv32-pool-conv64-conv64-pool-dense256-dense10 (`CONVNET`). Its input is each image
    stretched onto [0, 1] by its own min and max, so it sees a raw image, its GCN and the display
    of that GCN (gan_jax.game.preprocess) alike: GCN models' samples, which exist only up to
    brightness and contrast, are judged like real images. Its training is for an accelerator
    (~0.15 GFLOP per image with its gradient: ~6 TFLOP per epoch of 40k images, seconds on a
    GPU, many minutes on 2 CPU cores).
"""

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import time
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from gan_jax import data
from gan_jax.base import files, log
from gan_jax.game import preprocess

Array = jax.Array
METADATA_FILE = 'classifier.json'
PARAMS_DIR = 'params'
# Bump when the architecture or training code changes meaning: cached weights are then retrained.
VERSION = 1
# Which classifier each data set gets (default 'mlp').
ARCHITECTURES = {'cifar10': 'convnet'}
# The convnet's sizes: 3x3 'SAME' convolutions (a 2x2 max-pool after every second), then dense.
CONVNET = {'channels': (32, 32, 64, 64), 'hidden': (256,)}
# Epochs per data set: ~5.8k steps on 50k images; 1.2k on mnist_5k's 4k images.
EPOCHS = {'mnist_5k': 40, 'fashion_mnist': 15, 'mnist': 15, 'cifar10': 20}


@dataclasses.dataclass(frozen=True)
class Recipe:
  """How a classifier is trained; a cached one is reused only if its recipe is this one."""

  dataset: str
  hidden: tuple[int, ...] = (512, 128)
  dropout: float = 0.3
  learning_rate: float = 1e-3
  weight_decay: float = 1e-4
  batch_size: int = 128
  epochs: int = 10
  seed: int = 0
  version: int = VERSION
  architecture: str = 'mlp'
  channels: tuple[int, ...] = ()

  @classmethod
  def for_dataset(cls, dataset: str, **changes) -> 'Recipe':
    architecture = changes.get('architecture', ARCHITECTURES.get(dataset, 'mlp'))
    defaults = {'epochs': EPOCHS.get(dataset, 10), 'architecture': architecture}
    if architecture == 'convnet':
      defaults.update(channels=tuple(CONVNET['channels']), hidden=tuple(CONVNET['hidden']))
    return cls(dataset=dataset, **{**defaults, **changes})

  def to_dict(self) -> dict:
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
    if self.architecture == 'mlp':
      # An MLP's recipe reads as before convnets existed: caches of MNIST-like sets stay valid.
      del out['architecture'], out['channels']
    return out

  def build(self, *, dropout: float = 0.0) -> nn.Module:
    """The untrained network of this recipe (dropout for training only)."""
    if self.architecture == 'mlp':
      return MLP(hidden=tuple(self.hidden), dropout=dropout)
    if self.architecture == 'convnet':
      return ConvNet(
        image_shape=tuple(data.image_shape(self.dataset)),
        channels=tuple(self.channels),
        hidden=tuple(self.hidden),
        dropout=dropout,
      )
    raise ValueError(f'unknown classifier architecture {self.architecture!r}: mlp or convnet')


class MLP(nn.Module):
  """Pixels in [0, 1] -> (logits [N, classes], features [N, hidden[-1]]: the last ReLU layer)."""

  hidden: Sequence[int] = (512, 128)
  num_classes: int = 10
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    h = x.reshape(x.shape[0], -1) - 0.5
    for width in self.hidden:
      h = features = nn.relu(nn.Dense(width, precision=jax.lax.Precision.HIGHEST)(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, precision=jax.lax.Precision.HIGHEST)(h), features


class ConvNet(nn.Module):
  """Images [N, H*W*C] (or [N, H, W, C]) in [0, 1] -> (logits, features: the last dense ReLU).

  Each image is first stretched onto [0, 1] by its own min and max (module docstring).
  """

  image_shape: tuple[int, int, int] = (32, 32, 3)
  channels: Sequence[int] = (32, 32, 64, 64)
  hidden: Sequence[int] = (256,)
  num_classes: int = 10
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> tuple[Array, Array]:
    flat = x.reshape(x.shape[0], -1)
    h = preprocess.stretch(flat, xp=jnp).reshape(x.shape[0], *self.image_shape) - 0.5
    for i, channels in enumerate(self.channels):
      h = nn.relu(nn.Conv(channels, (3, 3), padding='SAME', precision=jax.lax.Precision.HIGHEST)(h))
      if i % 2 == 1:
        h = nn.max_pool(h, (2, 2), strides=(2, 2))
    h = h.reshape(h.shape[0], -1)
    for width in self.hidden:
      h = features = nn.relu(nn.Dense(width, precision=jax.lax.Precision.HIGHEST)(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, precision=jax.lax.Precision.HIGHEST)(h), features


@dataclasses.dataclass(frozen=True)
class Classifier:
  """Trained weights with what identifies them.

  Attributes:
    params: the network's parameters.
    recipe: how they were trained.
    test_accuracy: accuracy on the data set's test split.
    sha256: hex digest of the parameter bytes (see param_hash).
    train_seconds: wall time of the training that produced them.
  """

  params: dict
  recipe: Recipe
  test_accuracy: float
  sha256: str
  train_seconds: float

  @property
  def model(self) -> nn.Module:
    return self.recipe.build()

  def features_and_probs(self, images, *, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features float32 [N, F] and class probabilities float32 [N, K].

    Args:
      images: [N, H, W, C] or [N, D], uint8 (0..255) or float in [0, 1].
    """
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
    x = x.reshape(x.shape[0], -1)
    out = [
      _apply(self.model, self.params, jnp.asarray(x[i : i + batch_size]))
      for i in range(0, x.shape[0], batch_size)
    ]
    return (
      np.concatenate([np.asarray(f) for f, _ in out]),
      np.concatenate([np.asarray(p) for _, p in out]),
    )

  def info(self) -> dict:
    """What every report says about the classifier."""
    return {
      'test_accuracy': self.test_accuracy,
      'sha256': self.sha256,
      'train_seconds': self.train_seconds,
      'recipe': self.recipe.to_dict(),
    }


@functools.partial(jax.jit, static_argnums=0)
def _apply(model: nn.Module, params, x: Array) -> tuple[Array, Array]:
  logits, features = model.apply({'params': params}, x)
  return features, jax.nn.softmax(logits)


def param_hash(params) -> str:
  """sha256 over every leaf, in sorted path order, of its path, dtype, shape and bytes."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f'{jax.tree_util.keystr(path)}:{array.dtype.str}:{array.shape};'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def default_cache_dir(dataset: str) -> str:
  """~/.cache/gan_jax/classifiers/<dataset> (or under $XDG_CACHE_HOME)."""
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'gan_jax', 'classifiers', dataset)


def train(
  recipe: Recipe,
  train_images: np.ndarray,
  train_labels: np.ndarray,
  test_images: np.ndarray,
  test_labels: np.ndarray,
) -> Classifier:
  """Trains the recipe's network (AdamW, cosine decay, dropout), and measures test accuracy.

  Args:
    recipe: the training recipe.
    train_images, test_images: uint8 [N, H, W, C].
    train_labels, test_labels: int [N].

  Returns:
    The trained Classifier.
  """
  start = time.perf_counter()
  model = recipe.build(dropout=recipe.dropout)
  x = jnp.asarray(np.asarray(train_images).reshape(len(train_images), -1))
  y = jnp.asarray(np.asarray(train_labels, np.int32))
  batch = min(recipe.batch_size, x.shape[0])
  steps_per_epoch = x.shape[0] // batch
  tx = optax.adamw(
    optax.cosine_decay_schedule(recipe.learning_rate, steps_per_epoch * recipe.epochs),
    weight_decay=recipe.weight_decay,
  )
  key = jax.random.PRNGKey(recipe.seed)
  params = model.init(key, jnp.zeros((1, x.shape[1])))['params']
  opt_state = tx.init(params)
  epoch = jax.jit(functools.partial(_train_epoch, model, tx, batch=batch, steps=steps_per_epoch))
  for e in range(recipe.epochs):
    params, opt_state = epoch(params, opt_state, x, y, jax.random.fold_in(key, e + 1))
  params = jax.device_get(params)
  classifier = Classifier(params, recipe, 0.0, param_hash(params), 0.0)
  _, probs = classifier.features_and_probs(test_images)
  accuracy = float(np.mean(np.argmax(probs, axis=1) == np.asarray(test_labels)))
  return dataclasses.replace(
    classifier, test_accuracy=accuracy, train_seconds=time.perf_counter() - start
  )


def _train_epoch(
  model: nn.Module,
  tx: optax.GradientTransformation,
  params,
  opt_state,
  x: Array,
  y: Array,
  key: Array,
  *,
  batch: int,
  steps: int,
):
  """One shuffled pass over (x uint8, y), scanned on device."""
  order = jax.random.permutation(key, x.shape[0])[: steps * batch].reshape(steps, batch)

  def loss_fn(params, xb, yb, dropout_key):
    logits, _ = model.apply(
      {'params': params}, xb.astype(jnp.float32) / 255.0, train=True, rngs={'dropout': dropout_key}
    )
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  def step(carry, inputs):
    params, opt_state = carry
    idx, i = inputs
    grads = jax.grad(loss_fn)(params, x[idx], y[idx], jax.random.fold_in(key, i))
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), (order, jnp.arange(steps)))
  return params, opt_state


def save(classifier: Classifier, directory: str) -> None:
  """Writes params (orbax) and metadata JSON; readers never see a half-written classifier."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, f'.tmp-{os.getpid()}')
  shutil.rmtree(tmp, ignore_errors=True)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.join(tmp, PARAMS_DIR), classifier.params)
    ckptr.wait_until_finished()
  target = os.path.join(directory, PARAMS_DIR)
  if os.path.isdir(target):
    shutil.rmtree(target)
  os.replace(os.path.join(tmp, PARAMS_DIR), target)
  shutil.rmtree(tmp, ignore_errors=True)
  # Last: a reader that finds the metadata finds the params it describes (load checks the hash).
  files.write_text(
    os.path.join(directory, METADATA_FILE),
    json.dumps(
      {**classifier.info(), 'format': 'orbax StandardCheckpointer'}, indent=2, sort_keys=True
    ),
  )


def load(directory: str, recipe: Recipe) -> Classifier | None:
  """The cached classifier trained by `recipe`, or None if absent, stale or damaged."""
  directory = os.path.abspath(directory)
  try:
    with open(os.path.join(directory, METADATA_FILE)) as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  if meta.get('recipe') != recipe.to_dict():
    log.warn(f'cached classifier in {directory} was trained by another recipe; retraining')
    return None
  model = recipe.build()
  abstract = jax.eval_shape(
    lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, _input_dim(recipe))))['params']
  )
  try:
    with ocp.StandardCheckpointer() as ckptr:
      params = ckptr.restore(os.path.join(directory, PARAMS_DIR), abstract)
  except Exception as e:  # orbax raises many types for a damaged checkpoint
    log.warn(f'cached classifier in {directory} is unreadable ({type(e).__name__}); retraining')
    return None
  params = jax.device_get(params)
  digest = param_hash(params)
  if digest != meta.get('sha256'):
    log.warn(f'cached classifier in {directory} does not match its hash; retraining')
    return None
  return Classifier(
    params, recipe, float(meta['test_accuracy']), digest, float(meta.get('train_seconds', 0.0))
  )


def _input_dim(recipe: Recipe) -> int:
  return int(np.prod(data.image_shape(recipe.dataset)))


def load_or_train(
  dataset: str,
  *,
  cache_dir: str | None = None,
  data_dir: str | None = None,
  manual_dir: str | None = None,
  recipe: Recipe | None = None,
) -> Classifier:
  """The data set's evaluation classifier: from `cache_dir` if trained there by the same recipe,
  else trained now on its train split (seconds to a minute on 2 CPU cores) and cached.

  Args:
    dataset: a data set name (gan_jax.data.DATASETS).
    cache_dir: where the classifier lives (default: default_cache_dir(dataset)).
    data_dir, manual_dir: passed to data.load_split.
    recipe: the training recipe (default: Recipe.for_dataset(dataset)).
  """
  recipe = recipe or Recipe.for_dataset(dataset)
  cache_dir = cache_dir or default_cache_dir(dataset)
  cached = load(cache_dir, recipe)
  if cached is not None:
    return cached
  train_split = data.load_split(dataset, 'train', data_dir=data_dir, manual_dir=manual_dir)
  test_split = data.load_split(dataset, 'test', data_dir=data_dir, manual_dir=manual_dir)
  classifier = train(
    recipe, train_split.images, train_split.labels, test_split.images, test_split.labels
  )
  log.detail(
    f'trained the {dataset} evaluation classifier in {classifier.train_seconds:.1f} s: '
    f'test accuracy {classifier.test_accuracy:.4f}, sha256 {classifier.sha256}'
  )
  try:
    save(classifier, cache_dir)
  except OSError as e:
    log.warn(
      f'cannot cache the classifier in {cache_dir} ({e.strerror}); it will be retrained next time'
    )
  return classifier
