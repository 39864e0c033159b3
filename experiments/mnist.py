r"""`python -m experiments.mnist`: the model card's documented command, an alias of
`experiments.train` (which trains every data set, not only MNIST): same flags, same outputs.

  python -m experiments.mnist --flagfile=experiments/configs/mnist_5k.flags --workdir=runs/mnist_5k
"""

from experiments import cli
from experiments.train import main

if __name__ == '__main__':
  cli.run(main)
