"""A run directory's layout: what a training run writes into its --workdir, and where.

Every reader and writer of a run (the loop, checkpoints, metric writers, --overwrite, sweeps and
their rankings) names these paths through this module, so the layout is written down once.
"""

import os

CONFIG_FILE = 'config.json'  # the run's Config, as JSON
METRICS_FILE = 'metrics.jsonl'  # one row of scalars per log (and evaluation) step
# Written when the run's losses or parameters became NaN/inf (and it was not rolled back): it
# holds why; a population leaves such a member out of its checkpoints, logs and ranking.
FAILED_FILE = 'FAILED'
SAMPLES_DIR = 'samples'  # the sample grids, step_<step>.png
TENSORBOARD_DIR = 'tensorboard'
CHECKPOINTS_DIR = 'checkpoints'  # orbax, one directory per step
CORRUPT_DIR = 'corrupt_checkpoints'  # unreadable checkpoints, moved aside

# Everything a run writes; --overwrite removes exactly these and nothing else kept there.
OUTPUTS = (
  CHECKPOINTS_DIR,
  CORRUPT_DIR,
  TENSORBOARD_DIR,
  SAMPLES_DIR,
  METRICS_FILE,
  CONFIG_FILE,
  FAILED_FILE,
)
# Written by no one else, together: how a run from before the .gan_jax marker is recognised.
SIGNATURE = (CONFIG_FILE, CHECKPOINTS_DIR)


def config_path(workdir: str) -> str:
  return os.path.join(workdir, CONFIG_FILE)


def metrics_path(workdir: str) -> str:
  return os.path.join(workdir, METRICS_FILE)


def failed_path(workdir: str) -> str:
  return os.path.join(workdir, FAILED_FILE)


def failed(workdir: str) -> bool:
  """Whether the run in `workdir` went non-finite and was marked FAILED."""
  return os.path.exists(failed_path(workdir))


def samples_dir(workdir: str) -> str:
  return os.path.join(workdir, SAMPLES_DIR)


def sample_grid_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, SAMPLES_DIR, f'step_{step:08d}.png')


def tensorboard_dir(workdir: str) -> str:
  return os.path.join(workdir, TENSORBOARD_DIR)


def checkpoints_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR)


def corrupt_dir(workdir: str) -> str:
  return os.path.join(workdir, CORRUPT_DIR)
