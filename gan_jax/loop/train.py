"""The training loop: data on device, fused compiled steps, checkpoints, logs and samples.

The loop only decides when things happen; all math is in `steps` (traced) and all I/O in
`checkpoint`, `writers` and `images`. Metrics stay on device until a logging step.
"""

import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.runtime import checkpoint
from gan_jax import data
from gan_jax.runtime import distributed
from gan_jax.runtime import images
from gan_jax.game import models
from gan_jax.game import optim
from gan_jax.runtime import parallel
from gan_jax.runtime import resources
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.runtime import writers
from gan_jax.runtime.config import Config
from gan_jax.runtime.errors import ConfigError, Interrupted, UserError, warn
from gan_jax.game.state import GAN, TrainState, build_gan, create_train_state

CONFIG_FILE = 'config.json'
# Where the fixed noise of the sample grids comes from, apart from the training stream.
_GRID_STREAM = 0x6E1D

# (gan, g_params, step) -> scalars to log, run every config.eval_every steps.
EvalFn = Callable[[GAN, dict, int], dict[str, float]]


class NonFiniteError(UserError):
  """A loss or parameter became NaN or infinite."""


@dataclasses.dataclass
class Experiment:
  """What a run needs besides its state, built once from the config."""

  config: Config
  gan: GAN
  mesh: jax.sharding.Mesh
  train_images: np.ndarray  # uint8 [N, H, W, C]
  output_bias: np.ndarray | None

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train_images.shape[1:])

  def init_state(self) -> TrainState:
    """The initial state, built on the devices, replicated."""
    init = jax.jit(functools.partial(create_train_state, self.gan, self.config.seed),
                   out_shardings=parallel.replicated(self.mesh))
    return init(self.output_bias)


def setup(config: Config, mesh: jax.sharding.Mesh | None = None) -> Experiment:
  """Validates `config` against the devices and data, loads the training split."""
  config.validate()
  mesh = parallel.make_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  # Process 0 prepares a data set on first use, then the others read it: processes sharing a
  # disk must not prepare it at the same time.
  with distributed.primary_first():
    split = data.load_split(config.dataset, 'train', data_dir=config.data_dir or None,
                            manual_dir=config.manual_dir or None)
  if split.num_examples < config.batch_size:
    raise ConfigError(f'--batch_size={config.batch_size} is larger than the training split '
                      f'of {config.dataset} ({split.num_examples} examples); use a smaller one')
  data_dim = math.prod(split.images.shape[1:])
  resources.check_training(config, data_dim, split.num_examples)  # before any allocation
  gan = build_gan(config, data_dim=data_dim, num_train=split.num_examples)
  bias = None
  if config.g_output_bias == 'marginals' and gan.output == 'sigmoid':
    bias = models.marginal_logits(data.pixel_means(split.images))
  return Experiment(config, gan, mesh, split.images, bias)


def sample_images(generate, g_params, z: jax.Array, image_shape) -> np.ndarray:
  """G(z) as host images [N, H, W, C] in [0, 1]; `generate` is (jitted) GAN.generate."""
  return np.asarray(generate(g_params, z)).reshape(-1, *image_shape)


def grid_noise(gan: GAN, config: Config) -> jax.Array:
  """The fixed noise batch behind every sample grid of a run."""
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _GRID_STREAM)
  return gan.sample_noise(key, config.num_grid_samples)


def check_finite(state: TrainState, step: int, losses: dict[str, np.ndarray] | None = None, *,
                 config: Config | None = None, checkpoints: Sequence[int] = ()):
  """Raises NonFiniteError naming the step, the net whose loss or parameters went bad, the
  learning-rate flag that drives that net and the checkpoint that is kept (if any).

  Args:
    state: the state after `step`.
    step: the current step.
    losses: per-step metrics of the steps up to `step` (the last len(values) steps).
    config: the run's config (names the flag and its value).
    checkpoints: the steps checkpointed so far.
  """
  if losses:
    for name, values in losses.items():
      bad = np.flatnonzero(~np.isfinite(values))
      if bad.size:
        net = 'discriminator' if name.startswith('d_') else 'generator'
        at = step - len(values) + 1 + int(bad[0])
        raise NonFiniteError(f'{name} ({net}) became {values[bad[0]]} at step {at}; '
                             f'{_nonfinite_advice(net, config, checkpoints)}')
  finite = _params_finite(state.g_params, state.d_params)
  for net, ok in zip(('generator', 'discriminator'), finite):
    if not bool(ok):
      raise NonFiniteError(f'the {net}\'s parameters became NaN/inf by step {step}; '
                           f'{_nonfinite_advice(net, config, checkpoints)}')


def _nonfinite_advice(net: str, config: Config | None, checkpoints: Sequence[int]) -> str:
  flag = '--learning_rate'
  if net == 'discriminator' and config is not None and config.d_learning_rate > 0:
    flag = '--d_learning_rate'  # D's own rate; otherwise --learning_rate drives both nets
  if config is not None:
    flag += f' (now {getattr(config, flag[2:])})'
  if checkpoints:
    return (f'the checkpoint of step {max(checkpoints)} is kept: resume from it with a lower '
            f'{flag}, or use --on_nonfinite=rollback')
  return (f'no checkpoint was written before it: run again with a lower {flag}, or use a '
          'smaller --checkpoint_every with --on_nonfinite=rollback')


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


@jax.jit  # compiled once per parameter structure, not at every log step
def _params_finite(g_params, d_params) -> tuple[jax.Array, jax.Array]:
  return _all_finite(g_params), _all_finite(d_params)


class StopSignal:
  """Turns SIGTERM/SIGINT into a request to checkpoint and stop at the next step boundary; a
  second one ends the process at once with 128 + the signal."""

  def __init__(self):
    self.received = None

  @contextlib.contextmanager
  def installed(self):
    if jax.process_count() > 1 or not _in_main_thread():
      yield self
      return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
      signal.signal(s, self._handle)
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:
      # A second signal: stop now, mid-write or not. A checkpoint being written is only ever
      # an orbax temporary directory (removed at the next start) or complete and hashed.
      name = signal.Signals(signum).name
      sys.stderr.write(f'error: second {name} while stopping: stopped at once; a checkpoint '
                       'being written is discarded, the last complete one is kept; run the '
                       'same command to resume\n')
      sys.stderr.flush()
      os._exit(128 + signum)  # pylint: disable=protected-access
    self.received = signal.Signals(signum).name
    warn(f'{self.received} received: checkpointing and stopping at the next step boundary')


def _in_main_thread() -> bool:
  import threading
  return threading.current_thread() is threading.main_thread()


def event_intervals(config: Config) -> tuple[int, ...]:
  return tuple(n for n in (config.log_every, config.checkpoint_every, config.sample_every,
                           config.eval_every) if n > 0)


def next_chunk(config: Config, step: int) -> int:
  """Steps to fuse into the next call: up to steps_per_call, ending at num_steps and at the
  next log/checkpoint/sample/eval boundary."""
  return min(config.steps_per_call, config.num_steps - step,
             *(n - step % n for n in event_intervals(config)))


def train_and_evaluate(config: Config, workdir: str, *, overwrite: bool = False,
                       eval_fn: EvalFn | None = None,
                       mesh: jax.sharding.Mesh | None = None) -> TrainState:
  """Trains (or resumes) the experiment `config` in `workdir` up to config.num_steps.

  Args:
    config: the experiment.
    workdir: checkpoints, metrics.jsonl, tensorboard/, samples/ and config.json go here. If it
      holds a checkpoint, training resumes from the newest readable one.
    overwrite: discard a previous run in workdir instead of resuming it (only a directory
      gan_jax wrote as a run: see gan_jax.runtime.workdir).
    eval_fn: called every config.eval_every steps; its scalars are logged with the others.
    mesh: devices to train on (default: every device of every process).

  Returns:
    The final state.
  """
  exp = setup(config, mesh)
  # Process 0 alone checks, locks and clears; if it cannot, every process stops (none waits
  # forever). A directory gan_jax did not write is never used, --overwrite or not.
  with distributed.primary_context(
      lambda: workdir_lib.run_directory(workdir, overwrite=overwrite)):
    distributed.barrier('workdir_ready')  # no process reads checkpoints before the clear
    return _train(exp, workdir, eval_fn)


def _train(exp: Experiment, workdir: str, eval_fn: EvalFn | None) -> TrainState:
  config, gan, mesh = exp.config, exp.gan, exp.mesh
  primary = jax.process_index() == 0
  state = exp.init_state()
  ckpt = checkpoint.Checkpointer(workdir, max_to_keep=config.keep_checkpoints)
  step = 0
  if ckpt.all_steps():
    abstract = checkpoint.abstract_like(state, parallel.replicated(mesh))
    state, _, step = ckpt.restore(abstract, expect=config, quarantine=primary)
    if step > config.num_steps:
      ckpt.close()
      raise ConfigError(f'--num_steps={config.num_steps} is below step {step} of the checkpoint '
                        f'in --workdir={workdir}; pass --num_steps={step} or more to continue, '
                        'or --overwrite to start again')
    writers.log(f'resumed from {ckpt.directory}/{step}')
  try:  # a workdir whose metrics or tensorboard/ are damaged is refused before any write
    writer = writers.MetricWriter(workdir, enabled=primary, resume_step=step)
  except UserError:
    ckpt.close()
    raise
  if primary:
    writers.write_json(os.path.join(workdir, CONFIG_FILE), config.to_dict())
  train_data = parallel.put_replicated(
      exp.train_images.reshape(exp.train_images.shape[0], -1), mesh)
  z_grid = grid_noise(gan, config)
  generate = jax.jit(gan.generate_display)
  compiled: dict[int, Callable] = {}
  pending: list[dict[str, jax.Array]] = []
  stop = StopSignal()

  def save(step):
    check_finite(state, step, config=config, checkpoints=ckpt.all_steps())
    ckpt.save(step, state, config)

  def write_samples(step):
    if primary:
      grid = images.make_grid(sample_images(generate, state.g_params, z_grid, exp.image_shape))
      images.save_png(os.path.join(workdir, 'samples', f'step_{step:08d}.png'), grid)
      writer.write_image(step, 'samples', grid)

  writers.log(f'training {config.dataset} ({exp.train_images.shape[0]} examples) on '
              f'{mesh.size} device(s) [{jax.devices()[0].platform}], steps {step} -> '
              f'{config.num_steps}, workdir {workdir}')
  interval_start, interval_step = time.perf_counter(), step
  rollbacks = 0
  with stop.installed():
    try:
      while step < config.num_steps and stop.received is None:
        chunk = next_chunk(config, step)
        if chunk not in compiled:
          compiled[chunk] = parallel.compile_train_steps(gan, mesh, chunk)
        state, metrics = compiled[chunk](state, train_data)
        pending.append(metrics)
        step += chunk
        done = step == config.num_steps
        if step % config.log_every == 0 or done:
          stacked = jax.device_get(pending)
          pending = []
          values = {k: np.concatenate([np.atleast_1d(m[k]) for m in stacked]) for k in stacked[0]}
          try:
            check_finite(state, step, values, config=config, checkpoints=ckpt.all_steps())
          except NonFiniteError as e:
            if config.on_nonfinite != 'rollback' or rollbacks == MAX_ROLLBACKS:
              raise
            rollbacks += 1
            state, step = _rollback(ckpt, state, mesh, config, e)
            writer.truncate_after(step)
            interval_start, interval_step = time.perf_counter(), step
            continue
          now = time.perf_counter()
          rate = (step - interval_step) / (now - interval_start)
          interval_start, interval_step = now, step
          scalars = {k: float(np.mean(v)) for k, v in values.items()}
          writers.log(writers.progress_line(step, config.num_steps, rate, scalars))
          writer.write_scalars(step, {**scalars, 'steps_per_s': rate})
        if config.eval_every and step % config.eval_every == 0 and eval_fn is not None:
          results = eval_fn(gan, state.g_params, step)
          writer.write_scalars(step, {f'eval/{k}': v for k, v in results.items()})
        if (config.sample_every and step % config.sample_every == 0) or done:
          write_samples(step)
        if step % config.checkpoint_every == 0 or done:
          save(step)
      if stop.received is not None:
        if step not in ckpt.all_steps():
          save(step)
        raise Interrupted(stop.received, signal.Signals[stop.received].value, step)
    finally:
      try:
        ckpt.wait()
      finally:
        ckpt.close()
        writer.close()
  return state


MAX_ROLLBACKS = 3


def _rollback(ckpt, state, mesh, config: Config, error: NonFiniteError):
  """Back to the newest checkpoint, with both learning rates times rollback_lr_factor."""
  if not ckpt.all_steps():
    raise NonFiniteError(f'{error}; no checkpoint to roll back to') from None
  ckpt.wait()
  abstract = checkpoint.abstract_like(state, parallel.replicated(mesh))
  state, _, step = ckpt.restore(abstract, expect=config)
  factor = config.rollback_lr_factor
  state = state.replace(g_opt_state=optim.scale_learning_rate(state.g_opt_state, factor),
                        d_opt_state=optim.scale_learning_rate(state.d_opt_state, factor))
  warn(f'{error}: rolled back to step {step} with learning rates x{factor}')
  return state, step
