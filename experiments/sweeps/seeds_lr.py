"""Seeds x learning rates of the paper's recipe: numbers only, so ONE vmapped population.

  python -m experiments.sweep --flagfile=experiments/configs/mnist_5k.flags \
      --sweep=experiments/sweeps/seeds_lr.py --workdir=runs/sweep_seeds_lr

8 members (4 seeds x 2 learning rates), each in <workdir>/seed_<s>-learning_rate_<lr>.
"""

from gan_jax.sweep.plan import product


def sweep():
  return product(seed=[0, 1, 2, 3], learning_rate=[0.1, 0.05])
