"""Sampling from a checkpoint, without the data or the training loop."""

import dataclasses

import jax
import numpy as np

from gan_jax import checkpoint
from gan_jax import data
from gan_jax import parallel
from gan_jax.config import Config
from gan_jax.state import GAN, Params, build_gan, create_train_state


@dataclasses.dataclass
class Restored:
  config: Config
  gan: GAN
  g_params: Params
  step: int
  image_shape: tuple[int, int, int]

  def sample(self, num: int, *, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
    """`num` samples [num, H, W, C] in [0, 1] from fresh noise drawn from `seed`."""
    generate = jax.jit(self.gan.generate)
    key = jax.random.PRNGKey(seed)
    out = []
    for start in range(0, num, batch_size):
      z = self.gan.sample_noise(jax.random.fold_in(key, start), min(batch_size, num - start))
      out.append(np.asarray(generate(self.g_params, z)))
    flat = np.concatenate(out) if out else np.zeros((0, np.prod(self.image_shape)), np.float32)
    return flat.reshape(-1, *self.image_shape)


def restore(workdir: str, step: int | None = None) -> Restored:
  """Restores the newest readable (or the given) checkpoint of `workdir` onto this host's devices.

  Works whatever number of devices or processes wrote it: the arrays are read into a state laid
  out for the current devices.
  """
  ckpt = checkpoint.Checkpointer(workdir, read_only=True)
  try:
    steps = ckpt.all_steps()
    if not steps:
      raise checkpoint.CheckpointError(
          f'no checkpoint in {ckpt.directory}; train first with python -m experiments.mnist '
          f'--workdir={workdir}')
    config = ckpt.read_config(step if step is not None else steps[-1])
    shape = data.image_shape(config.dataset)
    # steps_per_epoch only shapes the optimiser's schedules, not its state: any value restores.
    gan = build_gan(config, data_dim=int(np.prod(shape)), num_train=config.batch_size)
    mesh = parallel.make_mesh(jax.local_devices())
    bias = np.zeros(gan.generator.output_dim, np.float32)
    abstract = checkpoint.abstract_like(
        jax.eval_shape(lambda b: create_train_state(gan, config.seed, b), bias),
        parallel.replicated(mesh))
    state, config, restored_step = ckpt.restore(abstract, step)
  finally:
    ckpt.close()
  return Restored(config, gan, state.g_params, restored_step, shape)
