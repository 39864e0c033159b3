"""`experiments.mnist`, the model card's documented command, is `experiments.train` by another
name: same flags, same run (bad input too: it runs the same main through the same
experiments.cli)."""

from gan_jax.runtime import checkpoint, sampling
from tests.helpers import TEST_FLAGS, run_module


def test_the_mnist_alias_trains_exactly_what_train_does(tmp_path):
  digests = []
  for module in ('experiments.train', 'experiments.mnist'):
    workdir = tmp_path / module
    result = run_module(
      module, f'--flagfile={TEST_FLAGS}', f'--workdir={workdir}', '--num_steps=4', '--seed=7'
    )
    assert result.returncode == 0, result.stderr
    restored = sampling.restore(str(workdir))
    assert restored.step == 4
    digests.append(checkpoint.state_sha256(restored.state))
  assert digests[0] == digests[1]
