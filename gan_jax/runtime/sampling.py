"""Sampling from a checkpoint, without the data or the training loop."""

import dataclasses

import jax
import numpy as np

from gan_jax.runtime import checkpoint
from gan_jax import data
from gan_jax.runtime import parallel
from gan_jax.runtime.config import Config
from gan_jax.game.state import GAN, Params, TrainState, build_gan, create_train_state


@dataclasses.dataclass
class Restored:
  """A checkpoint restored for use: its config, game, whole state and step."""

  config: Config
  gan: GAN
  state: TrainState
  step: int
  image_shape: tuple[int, int, int]

  @property
  def g_params(self) -> Params:
    return self.state.g_params

  def sample(self, num: int, *, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
    """`num` samples [num, H, W, C] in [0, 1] from fresh noise drawn from `seed`; a GCN model's
    contrast-stretched per image (GAN.to_display)."""
    generate = jax.jit(self.gan.generate_display)
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
  out for the current devices. Unreadable checkpoints are skipped with a warning.
  """
  mesh = parallel.make_mesh(jax.local_devices())
  games = {}

  def abstract_state(config: Config):
    shape = data.image_shape(config.dataset)
    # steps_per_epoch only shapes the optimiser's schedules, not its state: any value restores.
    gan = games[config] = build_gan(config, data_dim=int(np.prod(shape)),
                                    num_train=config.batch_size)
    # A linear-output model has no marginal bias to restore over.
    bias = np.zeros(gan.generator.output_dim, np.float32) if gan.output == 'sigmoid' else None
    return checkpoint.abstract_like(
        jax.eval_shape(lambda b: create_train_state(gan, config.seed, b), bias),
        parallel.replicated(mesh))

  ckpt = checkpoint.Checkpointer(workdir, read_only=True)
  try:
    state, config, restored_step = ckpt.restore(abstract_state, step)
  finally:
    ckpt.close()
  return Restored(config, games[config], state, restored_step,
                  data.image_shape(config.dataset))
