"""The update rule (the original code's simultaneous updates vs Algorithm 1 with k = 1 and 2),
each over two seeds: three structures, so three populations of two members each.

  python -m experiments.sweep --flagfile=experiments/configs/mnist_5k.flags \
      --sweep=experiments/sweeps/update_rule.py --workdir=runs/sweep_update_rule --launch=none

--launch=none writes <workdir>/commands.sh (one population command per line) for a scheduler;
--launch=local (the default) runs them here one after the other.
"""

from gan_jax.sweep.plan import product

RULES = [
  dict(update='simultaneous', d_steps=1),
  dict(update='alternating', d_steps=1),
  dict(update='alternating', d_steps=2),
]


def sweep():
  return [{**rule, **seed} for rule in RULES for seed in product(seed=[0, 1])]
