"""How the numbers were made: the budget, the machine, every step with its wall time."""

from experiments.reproduce import driver as driver_lib
from experiments.reproduce.sections import common


def section(page) -> list[str]:
  """The budget, the machine, and every driver step with its wall time and commit."""
  machine = page.state.get('machine', {})
  total = sum(s.get('wall_s', 0) for s in page.state['steps'].values())
  commits = sorted({s.get('commit', '?') for s in page.state['steps'].values()})
  lines = [
    '## How these numbers were made',
    '',
    f'Budget `{page.budget.name}`; machine: {page.machine_text()}, '
    f'{machine.get("platform", "?")}, '
    f'Python {machine.get("python", "?")}; started {page.state.get("started", "?")}, '
    f'finished {page.state.get("finished", "not yet")}; {common.duration(total)} of steps '
    f'in all; commit{"s" if len(commits) > 1 else ""} {", ".join(commits)}.',
    '',
    '| step | command | seeds | wall time (attempts) | load (1-min avg) before → after | commit |',
    '|---|---|---|---|---|---|',
  ]
  lost = []
  for key, s in page.state['steps'].items():
    lines.append(
      f'| {key} | `{s.get("command", "")}` | {s.get("seed", "")} | '
      f'{common.duration(s.get("wall_s", 0))} ({s.get("attempts", 1)}) | '
      f'{s.get("load_before", 0):.1f} → {s.get("load_after", 0):.1f} | '
      f'{s.get("commit", "?")[:12]} |'
    )
    lost += [key for a in s.get('attempt_log', []) if a.get('result') == driver_lib.DIED]
  if lost:
    lines += [
      '',
      f'Attempts whose driver was killed outright ({", ".join(sorted(set(lost)))}) count '
      f'to their last recorded heartbeat (every {driver_lib.HEARTBEAT_S:g} s).',
    ]
  return lines + ['']
