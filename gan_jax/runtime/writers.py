"""Where metrics go: `metrics.jsonl` and TensorBoard (tensorboardX, no TensorFlow).

Only the primary process writes (pass enabled=False elsewhere).
"""

import json
import math
import os

import numpy as np

from gan_jax.base import files
from gan_jax.base.errors import UserError
from gan_jax.runtime import rundir


def read_metrics(workdir: str) -> list[dict]:
  path = rundir.metrics_path(workdir)
  if not os.path.exists(path):
    return []
  rows = []
  try:
    with open(path, encoding='utf-8') as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
          continue
  except UnicodeDecodeError as e:
    raise UserError(
      f'{path} is not UTF-8 text (byte {e.start} of a line); move it away and run '
      'the same command (the checkpoints are intact; earlier rows are lost)'
    ) from None
  return rows


class MetricWriter:
  """Appends scalars to workdir/metrics.jsonl and TensorBoard; images to TensorBoard."""

  def __init__(self, workdir: str, *, enabled: bool = True, resume_step: int | None = None):
    self.enabled = enabled
    self._path = rundir.metrics_path(workdir)
    self._tb = None
    if not enabled:
      return
    logdir = rundir.tensorboard_dir(workdir)
    if os.path.exists(logdir) and not os.path.isdir(logdir):
      raise UserError(
        f'{logdir} is a file where the TensorBoard directory is expected; move it '
        'away and run the same command'
      )
    if resume_step is not None:
      self.truncate_after(resume_step)
    from tensorboardX import SummaryWriter  # imported here: only the primary process needs it

    self._tb = SummaryWriter(logdir=logdir, flush_secs=30)

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after the checkpoint we resume from: they will be logged again."""
    if not self.enabled:
      return
    rows = [r for r in read_metrics(os.path.dirname(self._path)) if r.get('step', 0) <= step]
    files.write_text(self._path, ''.join(json.dumps(r) + '\n' for r in rows))

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    if not self.enabled:
      return
    row = {'step': int(step)}
    row.update({k: files.to_jsonable(v) for k, v in scalars.items()})
    with files.naming(self._path), open(self._path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    for name, value in scalars.items():
      if isinstance(value, (int, float, np.number)) and math.isfinite(value):
        self._tb.add_scalar(name, float(value), int(step))

  def write_image(self, step: int, name: str, grid: np.ndarray) -> None:
    """grid: uint8 [H, W, C]."""
    if self.enabled:
      self._tb.add_image(name, grid, int(step), dataformats='HWC')

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else f'{minutes}m{seconds:02d}s'


def progress_line(step: int, num_steps: int, steps_per_s: float, scalars: dict[str, float]) -> str:
  eta = (num_steps - step) / steps_per_s if steps_per_s > 0 else math.inf
  return (
    f'step {step}/{num_steps} | {steps_per_s:.1f} steps/s | ETA {format_duration(eta)} | '
    f'D loss {scalars["d_loss"]:.4f} | G loss {scalars["g_loss"]:.4f} | '
    f'D(x) {scalars["d_real"]:.3f} | D(G(z)) {scalars["d_fake"]:.3f}'
  )
