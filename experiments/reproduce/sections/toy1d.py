"""The Figures section's 1-D experiment: Figure 1 and the theory numbers (experiments.toy1d's
figure1.json and theory.json)."""

import os

from experiments.reproduce.sections import common


def section(page) -> list[str]:
  """Figure 1 and the theory numbers of the 1-D experiment."""
  lines = []
  toy = page.workdir('toy1d')
  f1 = page.copy_figure(os.path.join(toy, 'figure1.png'), 'toy1d_figure1.png')
  figure1 = common.read_json(os.path.join(toy, 'figure1.json'))
  theory = common.read_json(os.path.join(toy, 'theory.json'))
  if f1:
    page.present.append('toy1d/figure1')
    lines += [
      '### Figure 1 and the theory, in 1-D (`experiments.toy1d`)',
      '',
      'Data density (black, dotted), p_g (green), D (blue, dashed); panels (a)-(d) as '
      'in the paper.',
      '',
      f'![]({f1})',
      '',
    ]
    if figure1:
      lines += [
        'Jensen-Shannon divergence between p_data and p_g in the four panels: '
        + ', '.join(
          f'({"abcd"[i]}) {common.fmt(p["jsd"])}' for i, p in enumerate(figure1.get('panels', []))
        )
        + '.',
        '',
      ]
  else:
    page.missing.append('the 1-D experiment (Figure 1)')
  t1 = page.copy_figure(os.path.join(toy, 'theorem1.png'), 'toy1d_theorem1.png')
  if theory:
    page.present.append('toy1d/theory')
    lines += [
      'Theory numbers of the 1-D game (`theory.json`: Proposition 1 as the error of the '
      'trained D against D* = p_data / (p_data + p_g), Theorem 1 as C(G) against '
      '-log 4 + 2 JSD, and the saturation of the minimax loss):',
      '',
      '| quantity | value |',
      '|---|---|',
    ]
    lines += [f'| {k} | {common.fmt(v)} |' for k, v in flat(theory).items()] + ['']
    if t1:
      lines += [f'![Theorem 1]({t1})', '']
  else:
    page.missing.append('the 1-D theory numbers')
  return lines


def flat(value, prefix: str = '') -> dict:
  out = {}
  if isinstance(value, dict):
    for k, v in value.items():
      out.update(flat(v, f'{prefix}{k}.' if isinstance(v, dict) else f'{prefix}{k}'))
  elif isinstance(value, (int, float)) and not isinstance(value, bool):
    out[prefix.rstrip('.')] = value
  return out
