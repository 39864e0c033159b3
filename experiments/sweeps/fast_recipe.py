"""Looking for a recipe that reaches the paper's Parzen number sooner, on the paper's networks.

  python -m experiments.sweep --flagfile=experiments/configs/mnist_paper.flags \
      --sweep=experiments/sweeps/fast_recipe.py --workdir=runs/sweep_fast_recipe

The baseline is the paper recipe itself (momentum SGD, lr 0.1, batch 100, momentum 0.5 -> 0.7
over 250 epochs), run as `experiments/configs/mnist_paper.flags`. Members change one thing each:
Adam with DCGAN's settings (lr 2e-4, beta1 0.5), the final momentum from the first step, and half
the batch (about twice the updates per second on a CPU). Members are ranked on validation images.
"""


def sweep():
  return [
    {'name': 'adam_lr2e-4', 'optimizer': 'adam', 'learning_rate': 2e-4, 'adam_b1': 0.5},
    {'name': 'momentum_0.7', 'momentum': 0.7},
    {'name': 'batch_50', 'batch_size': 50},
  ]
