"""gan_jax: Goodfellow et al. (2014), "Generative Adversarial Nets", in JAX/Flax."""

__version__ = '0.1.0'
