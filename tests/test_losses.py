"""The game's losses against values computed by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.game import losses

LN3 = math.log(3.0)
REAL = jnp.array([0.0, LN3])  # D(x) = 0.5, 0.75
FAKE = jnp.array([0.0, -LN3])  # D(G(z)) = 0.5, 0.25


def test_discriminator_loss_by_hand():
  # 0.5 * [mean(-log D(x)) + mean(-log(1 - D(G(z))))]
  bce_real = (math.log(2) + math.log(4 / 3)) / 2
  bce_fake = (math.log(2) + math.log(4 / 3)) / 2
  assert float(losses.discriminator_loss(REAL, FAKE)) == pytest.approx(
    0.5 * (bce_real + bce_fake), rel=1e-6
  )


def test_non_saturating_generator_loss_by_hand():
  # mean(-log D(G(z))) = mean(log 2, log 4)
  assert float(losses.generator_loss_non_saturating(FAKE)) == pytest.approx(
    1.5 * math.log(2), rel=1e-6
  )


def test_minimax_generator_loss_by_hand():
  # mean(log(1 - D(G(z)))) = mean(log 0.5, log 0.75)
  expected = (math.log(0.5) + math.log(0.75)) / 2
  assert float(losses.generator_loss_minimax(FAKE)) == pytest.approx(expected, rel=1e-6)


def test_value_function_is_minus_twice_the_d_loss():
  v = float(losses.value_function(REAL, FAKE))
  assert v == pytest.approx(-2 * float(losses.discriminator_loss(REAL, FAKE)), rel=1e-6)
  # At D = 1/2 everywhere V = -log 4 (Theorem 1's minimum).
  zeros = jnp.zeros(5)
  assert float(losses.value_function(zeros, zeros)) == pytest.approx(-math.log(4), rel=1e-6)


def test_losses_stay_finite_for_saturated_logits():
  big = jnp.array([80.0, -80.0])
  for value in (
    losses.discriminator_loss(big, -big),
    losses.generator_loss_minimax(big),
    losses.generator_loss_non_saturating(-big),
  ):
    assert np.isfinite(float(value))
  # D rejects G's samples with certainty: -log D(G(z)) = 80 exactly in the limit.
  assert float(losses.generator_loss_non_saturating(jnp.array([-80.0]))) == pytest.approx(80.0)
