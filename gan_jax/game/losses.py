"""The game's losses, from discriminator logits (D(x) = sigmoid(logit)), batch means.

With l the logit: -log D = softplus(-l) and -log(1 - D) = softplus(l), exact and stable.
"""

import jax
import jax.numpy as jnp

Array = jax.Array


def discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """0.5 [BCE(1, D(x)) + BCE(0, D(G(z)))]: the original code's D cost (minus V/2)."""
  return 0.5 * (jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits)))


def generator_loss_non_saturating(fake_logits: Array) -> Array:
  """-log D(G(z)) = BCE(1, D(G(z))): what the paper and the original code train G with."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def generator_loss_minimax(fake_logits: Array) -> Array:
  """log(1 - D(G(z))): G's side of V(D, G) in the minimax game; saturates when D wins."""
  return -jnp.mean(jax.nn.softplus(fake_logits))


GENERATOR_LOSSES = {
  'non_saturating': generator_loss_non_saturating,
  'minimax': generator_loss_minimax,
}


def value_function(real_logits: Array, fake_logits: Array) -> Array:
  """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))] on a batch."""
  return -jnp.mean(jax.nn.softplus(-real_logits)) - jnp.mean(jax.nn.softplus(fake_logits))
