"""Optimisers. The original recipe is pylearn2's momentum SGD with its two schedules.

Numeric hyperparameters live in the optimiser state as arrays, not in Python closures, so a
population of runs that differ only in numbers (a sweep) can stack states and `vmap` one step.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class PaperSGDState(NamedTuple):
  count: jax.Array  # updates applied so far
  velocity: optax.Params
  hparams: dict[str, jax.Array]


def paper_learning_rate(count, hparams) -> jax.Array:
  """eps_t = max(eps_0 / decay**t, floor) (pylearn2 ExponentialDecay), via exp for accuracy.

  decay = 1.000004 is not representable in float32 (it rounds to 1.00000405, a 1.7% error in
  the decay rate), so the state keeps log(decay) computed in float64.
  """
  t = count.astype(jnp.float32)
  return jnp.maximum(
    hparams['learning_rate'] * jnp.exp(-t * hparams['log_lr_decay']), hparams['min_learning_rate']
  )


def paper_momentum(count, hparams, steps_per_epoch: int) -> jax.Array:
  """mu rises linearly from `momentum` at epoch 1 to `final_momentum` at the saturate epoch."""
  epoch = (count // steps_per_epoch + 1).astype(jnp.float32)
  progress = jnp.clip((epoch - 1.0) / jnp.maximum(hparams['saturate_epoch'] - 1.0, 1.0), 0.0, 1.0)
  return hparams['momentum'] + (hparams['final_momentum'] - hparams['momentum']) * progress


def paper_sgd(
  *,
  learning_rate: float,
  lr_decay: float,
  min_learning_rate: float,
  momentum: float,
  final_momentum: float,
  saturate_epoch: int,
  steps_per_epoch: int,
) -> optax.GradientTransformation:
  """pylearn2 momentum SGD: v <- mu_t v - eps_t g; theta <- theta + v.

  This differs from optax.sgd(momentum=...), which scales an accumulated gradient trace by the
  current rate; with a decaying rate and a rising momentum the two trajectories differ.
  """
  initial = {
    'learning_rate': learning_rate,
    'log_lr_decay': math.log(lr_decay),
    'min_learning_rate': min_learning_rate,
    'momentum': momentum,
    'final_momentum': final_momentum,
    'saturate_epoch': float(saturate_epoch),
  }

  def init(params):
    return PaperSGDState(
      count=jnp.zeros([], jnp.int32),
      velocity=jax.tree.map(jnp.zeros_like, params),
      hparams={k: jnp.asarray(v, jnp.float32) for k, v in initial.items()},
    )

  def update(grads, state, params=None):
    del params
    lr = paper_learning_rate(state.count, state.hparams)
    mu = paper_momentum(state.count, state.hparams, steps_per_epoch)
    velocity = jax.tree.map(lambda v, g: mu * v - lr * g, state.velocity, grads)
    return velocity, PaperSGDState(state.count + 1, velocity, state.hparams)

  return optax.GradientTransformation(init, update)


def make_optimizer(
  kind: str,
  *,
  learning_rate: float,
  lr_decay: float,
  min_learning_rate: float,
  momentum: float,
  final_momentum: float,
  momentum_saturate_epoch: int,
  adam_b1: float,
  adam_b2: float,
  steps_per_epoch: int,
) -> optax.GradientTransformation:
  """The optimiser of one net (the original code uses the same recipe for D and G).

  Args:
    kind: 'sgd_momentum' (the original recipe, paper_sgd) or 'adam' (optax.adam).
    learning_rate: the net's initial rate.
    lr_decay, min_learning_rate, momentum, final_momentum, momentum_saturate_epoch:
      sgd_momentum's schedules (see paper_sgd); adam ignores them.
    adam_b1, adam_b2: adam's betas; sgd_momentum ignores them.
    steps_per_epoch: updates per data epoch, the unit of the momentum schedule.
  """
  if kind == 'sgd_momentum':
    return paper_sgd(
      learning_rate=learning_rate,
      lr_decay=lr_decay,
      min_learning_rate=min_learning_rate,
      momentum=momentum,
      final_momentum=final_momentum,
      saturate_epoch=momentum_saturate_epoch,
      steps_per_epoch=steps_per_epoch,
    )
  if kind == 'adam':
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate, b1=adam_b1, b2=adam_b2)
  raise ValueError(f'unknown optimizer {kind!r}')


def scale_learning_rate(opt_state, factor: float):
  """The same optimiser state with its learning rate (and floor) times `factor`."""
  if isinstance(opt_state, PaperSGDState):
    hparams = dict(opt_state.hparams)
    hparams['learning_rate'] = hparams['learning_rate'] * factor
    hparams['min_learning_rate'] = hparams['min_learning_rate'] * factor
    return opt_state._replace(hparams=hparams)
  if hasattr(opt_state, 'hyperparams'):  # optax.inject_hyperparams
    hyperparams = dict(opt_state.hyperparams)
    hyperparams['learning_rate'] = hyperparams['learning_rate'] * factor
    return opt_state._replace(hyperparams=hyperparams)
  raise TypeError(f'cannot scale the learning rate of {type(opt_state).__name__}')
