"""Pure training steps: `train_step(state, batch) -> (state, metrics)` and its fused form.

Nothing here touches the host: batches are gathered on device from a data set that lives there,
noise, dropout and a conditional model's sampled labels come from `fold_in(state.rng, step)`, and
`train_steps` scans many steps in one compiled call.

A conditional model's data carries labels: `data` is (images, labels) and a batch (x, y), the
labels gathered with the images' permutation; G is given labels drawn from the state's class
prior (TrainState.class_mix). An unconditional model's data is the images alone.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gan_jax.game import losses
from gan_jax.game.state import GAN, TrainState

Array = jax.Array
Metrics = dict[str, Array]
Constrain = Callable[[Array], Array]
# Real examples: x [..., data_dim], or (x, labels [...]) for a conditional model.
Batch = Array | tuple[Array, Array]
# The labels G is given come from their own stream of the step's key, apart from its splits.
_LABEL_STREAM = 1


def _identity(x):
  return x


def _split_batch(batch: Batch) -> tuple[Array, Array | None]:
  return batch if isinstance(batch, tuple) else (batch, None)


def _fake(gan: GAN, g_params, d_params, z, y, dropout_key) -> Array:
  """D's dropped-out logits on G(z) (G(z, y), D(., y) for a conditional model)."""
  return gan.discriminate(d_params, gan.generate(g_params, z, y), y, dropout_key=dropout_key)


def _game(g_params, d_params, x, z, dropout_key, *, gan: GAN, y_real=None, y_fake=None):
  """D's dropped-out passes over x and G(z), with independent masks (as the original code).

  Two passes rather than one over [x; G(z)]: G's gradient then flows back through the fake
  pass alone, not through zero cotangents of the real half.
  """
  real_key, fake_key = jax.random.split(dropout_key)
  real_logits = gan.discriminate(d_params, x, y_real, dropout_key=real_key)
  fake_logits = _fake(gan, g_params, d_params, z, y_fake, fake_key)
  d_loss = losses.discriminator_loss(real_logits, fake_logits)
  g_loss = losses.GENERATOR_LOSSES[gan.g_loss](fake_logits)
  aux = {
    'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
    'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits)),
  }
  return (d_loss, g_loss), aux


def _apply(tx, grads, opt_state, params):
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def _simultaneous(state: TrainState, batch, key: Array, gan: GAN, constrain: Constrain, y_fake):
  """Original code: D and G both step from gradients taken at the same parameters."""
  x, y_real = batch
  z_key, dropout_key = jax.random.split(key)
  z = constrain(gan.sample_noise(z_key, x.shape[0]))
  game = functools.partial(
    _game, x=x, z=z, dropout_key=dropout_key, gan=gan, y_real=y_real, y_fake=y_fake
  )
  (d_loss, g_loss), vjp, aux = jax.vjp(game, state.g_params, state.d_params, has_aux=True)
  one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
  _, d_grads = vjp((one, zero))  # one forward pass, two backward passes
  g_grads, _ = vjp((zero, one))
  d_params, d_opt_state = _apply(gan.d_tx, d_grads, state.d_opt_state, state.d_params)
  g_params, g_opt_state = _apply(gan.g_tx, g_grads, state.g_opt_state, state.g_params)
  new_state = state.replace(
    g_params=g_params, d_params=d_params, g_opt_state=g_opt_state, d_opt_state=d_opt_state
  )
  return new_state, {'d_loss': d_loss, 'g_loss': g_loss, **aux}


def _alternating(state: TrainState, batches, key: Array, gan: GAN, constrain: Constrain, y_fake):
  """Algorithm 1: k = d_steps D steps, each on its own minibatch and noise, then one G step."""
  xs, ys = batches
  keys = jax.random.split(key, gan.d_steps + 1)
  d_keys, g_key = keys[:-1], keys[-1]
  # G's labels: one row per D step, the last for the G step.
  d_fake, g_fake = (None, None) if y_fake is None else (y_fake[:-1], y_fake[-1])

  def d_step(carry, inputs):
    d_params, d_opt_state = carry
    x, y_real, y, step_key = inputs
    z_key, dropout_key = jax.random.split(step_key)
    z = constrain(gan.sample_noise(z_key, x.shape[0]))

    def d_objective(d_params):
      (d_loss, _), aux = _game(
        state.g_params, d_params, x, z, dropout_key, gan=gan, y_real=y_real, y_fake=y
      )
      return d_loss, aux

    (d_loss, aux), grads = jax.value_and_grad(d_objective, has_aux=True)(d_params)
    d_params, d_opt_state = _apply(gan.d_tx, grads, d_opt_state, d_params)
    return (d_params, d_opt_state), {'d_loss': d_loss, **aux}

  (d_params, d_opt_state), d_metrics = jax.lax.scan(
    d_step, (state.d_params, state.d_opt_state), (xs, ys, d_fake, d_keys)
  )

  z_key, dropout_key = jax.random.split(g_key)
  z = constrain(gan.sample_noise(z_key, xs.shape[1]))

  def g_objective(g_params):
    fake_logits = _fake(gan, g_params, d_params, z, g_fake, dropout_key)
    return losses.GENERATOR_LOSSES[gan.g_loss](fake_logits)

  g_loss, g_grads = jax.value_and_grad(g_objective)(state.g_params)
  g_params, g_opt_state = _apply(gan.g_tx, g_grads, state.g_opt_state, state.g_params)
  new_state = state.replace(
    g_params=g_params, d_params=d_params, g_opt_state=g_opt_state, d_opt_state=d_opt_state
  )
  # D's metrics are those of its last step, the one the G step played against.
  return new_state, {**jax.tree.map(lambda m: m[-1], d_metrics), 'g_loss': g_loss}


def train_step(
  state: TrainState, batch: Batch, *, gan: GAN, constrain: Constrain = _identity
) -> tuple[TrainState, Metrics]:
  """One iteration of the game.

  Args:
    state: the training state.
    batch: real data, float32 [d_steps, batch_size, data_dim] (pixels in [0, 1] for images):
      one minibatch per D step; for a conditional model (that, its labels int32 [d_steps,
      batch_size]).
    gan: the static game (networks, optimisers, loss and update rule).
    constrain: applied to each [batch_size, ...] array drawn inside the step (the noise); the
      data-parallel wrapper passes a sharding constraint over the data axis.

  Returns:
    The new state (step + 1; G's average, if kept, moved towards the new G) and scalar
    metrics: d_loss, g_loss, d_real (mean D(x)),
    d_fake (mean D(G(z))), all from the dropped-out training pass.
  """
  key = jax.random.fold_in(state.rng, state.step)
  xs, ys = _split_batch(batch)
  if gan.conditional != (ys is not None):
    raise ValueError('a conditional model trains on (images, labels), an unconditional on images')
  y_fake = None
  if gan.conditional:
    label_key = jax.random.fold_in(key, _LABEL_STREAM)
    y_fake = gan.sample_labels(label_key, state.class_mix, (xs.shape[0] + 1, xs.shape[1]))
  if gan.update == 'simultaneous':
    y0 = None if ys is None else ys[0]
    new_state, metrics = _simultaneous(
      state, (xs[0], y0), key, gan, constrain, None if y_fake is None else y_fake[0]
    )
  else:
    new_state, metrics = _alternating(state, (xs, ys), key, gan, constrain, y_fake)
  if state.g_average is not None:
    new_state = new_state.replace(g_average=state.g_average.update(new_state.g_params, state.step))
  return new_state.replace(step=state.step + 1), metrics


# Data order gets its own stream, apart from the per-step keys fold_in(rng, step).
_DATA_STREAM = 2**31 - 1


def _epoch_permutation(rng: Array, epoch: Array, num_examples: int) -> Array:
  data_rng = jax.random.fold_in(rng, _DATA_STREAM)
  return jax.random.permutation(jax.random.fold_in(data_rng, epoch), num_examples)


def train_steps(
  state: TrainState, data: Batch, *, gan: GAN, num_steps: int, constrain: Constrain = _identity
) -> tuple[TrainState, Metrics]:
  """`num_steps` iterations of `train_step` in one `lax.scan`, drawing batches on device.

  Minibatches follow a fresh permutation of the data each epoch (epoch = steps_per_epoch
  minibatches, the remainder dropped); minibatch b of the run is a pure function of (rng, b),
  so the data order does not depend on how the steps are split into calls.

  Args:
    state: the training state.
    data: the whole training split on device, uint8 [num_examples, data_dim]; for a
      conditional model (that, its labels int32 [num_examples]).
    gan: the static game.
    num_steps: iterations to run (static).
    constrain: sharding constraint for per-example arrays (see train_step).

  Returns:
    The state after `num_steps` iterations and the metrics of each, stacked: [num_steps].
  """
  images, labels = _split_batch(data)
  num_examples = images.shape[0]
  spe, batch_size, k = gan.steps_per_epoch, gan.batch_size, gan.d_steps

  def body(carry, _):
    state, perm, perm_epoch = carry
    xs, ys = [], []
    for i in range(k):
      b = state.step * k + i  # minibatch index over the whole run
      epoch = b // spe
      perm, perm_epoch = jax.lax.cond(
        epoch == perm_epoch,
        lambda: (perm, perm_epoch),
        lambda: (_epoch_permutation(state.rng, epoch, num_examples), epoch),
      )
      idx = constrain(jax.lax.dynamic_slice_in_dim(perm, (b % spe) * batch_size, batch_size))
      xs.append(gan.prepare(images[idx]))
      if labels is not None:
        ys.append(labels[idx])
    batch = jnp.stack(xs) if labels is None else (jnp.stack(xs), jnp.stack(ys))
    state, metrics = train_step(state, batch, gan=gan, constrain=constrain)
    return (state, perm, perm_epoch), metrics

  first_epoch = (state.step * k) // spe
  perm = _epoch_permutation(state.rng, first_epoch, num_examples)
  (state, _, _), metrics = jax.lax.scan(body, (state, perm, first_epoch), None, length=num_steps)
  return state, metrics
