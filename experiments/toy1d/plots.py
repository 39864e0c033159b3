"""The 1-D toy's figures, drawn from the JSON-ready results of `runner`.

Figures are built with matplotlib's object API on an Agg canvas, not pyplot: no global backend
switch, no open-figure registry to close.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from experiments.toy1d import theory


def _figure(nrows: int, ncols: int, size: tuple[float, float], **kwargs):
  fig = Figure(figsize=size)
  FigureCanvasAgg(fig)
  return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_figure1(result: dict, path: str) -> None:
  """Figure 1: p_data (black dotted), p_g (green), D (blue dashed); below, z -> x = G(z)."""
  x = np.asarray(result['x'])
  z_lo, z_hi = result['z_range']
  panels = result['panels']
  top = 1.1 * max(1.0, max(max(p['p_data']) for p in panels))
  fig, axes = _figure(1, len(panels), (4.2 * len(panels), 4.2), sharey=True)
  for ax, panel in zip(axes, panels):
    ax.plot(x, panel['p_data'], 'k:', lw=2, label='$p_{data}$')
    # p_g can spike where G is nearly flat; the axis keeps the other curves readable.
    ax.plot(x, np.minimum(panel['p_g'], top * 1.5), 'g-', lw=1.5, label='$p_g$')
    ax.plot(x, panel['d'], 'b--', lw=1.5, label='$D(x)$')
    if panel['name'].startswith('(b)'):
      ax.plot(x, panel['d_star'], color='0.6', lw=1, label='$D^*(x)$')
    # Below the curves, as in the paper: the z line (uniform samples) and arrows to x = G(z).
    x_line, z_line = -0.12 * top, -0.5 * top
    z_pos = x[0] + (np.asarray(panel['z']) - z_lo) / (z_hi - z_lo) * (x[-1] - x[0])
    ax.axhline(x_line, color='k', lw=0.8)
    ax.plot([x[0], x[-1]], [z_line, z_line], 'k-', lw=0.8)
    for start, end in zip(z_pos, panel['g_of_z']):
      ax.annotate(
        '',
        xy=(end, x_line),
        xytext=(start, z_line),
        arrowprops=dict(arrowstyle='->', lw=0.7, color='0.25'),
      )
    ax.text(x[0], x_line, ' x', va='bottom', fontsize=9)
    ax.text(x[0], z_line, ' z', va='bottom', fontsize=9)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(z_line - 0.05 * top, top)
    ax.set_yticks([0, 0.5, 1.0])
    ax.set_title(f'{panel["name"]}\nstep {panel["step"]}, JSD {panel["jsd"]:.3f}', fontsize=10)
  axes[0].legend(loc='upper left', fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def plot_theorem1(result: dict, path: str) -> None:
  """C(G) along training (exact, with a trained D, -log 4 + 2 JSD), and its gap to -log 4."""
  steps = np.asarray(result['steps'])
  c_exact, c_trained = np.asarray(result['c_of_g']), np.asarray(result['c_of_g_trained_d'])
  two_jsd = np.asarray(result['two_jsd'])
  fig, (left, right) = _figure(1, 2, (12, 4.2))
  left.plot(steps, c_exact, 'g-', lw=2, label='$C(G) = V(D^*, G)$, quadrature')
  left.plot(steps, two_jsd - theory.LOG4, 'ko', ms=4, label=r'$-\log 4 + 2\,JSD(p_{data} \| p_g)$')
  left.plot(steps, c_trained, 'b--', lw=1.5, label='$V(D, G)$, D trained with G fixed')
  left.axhline(-theory.LOG4, color='0.5', lw=1, ls=':', label=r'$-\log 4$')
  left.set_ylabel('value')
  left.set_title('Theorem 1: C(G) = -log 4 + 2 JSD, minimal at $p_g = p_{data}$', fontsize=10)
  # Step 0 on a log axis: drawn at half the first checkpoint.
  shown = np.where(steps > 0, steps, steps[1] / 2)
  right.loglog(shown, c_exact + theory.LOG4, 'g-', lw=2, label=r'$C(G) + \log 4$')
  right.loglog(shown, two_jsd, 'ko', ms=4, label=r'$2\,JSD$')
  right.loglog(
    shown,
    np.maximum(c_trained + theory.LOG4, 1e-6),
    'b--',
    lw=1.5,
    label=r'$V(D, G) + \log 4$, trained D',
  )
  right.set_title('gap to the global minimum (step 0 drawn at the left end)', fontsize=10)
  for ax in (left, right):
    ax.set_xlabel('training step')
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def plot_modes(result: dict, path: str) -> None:
  """Share of G's mass at each mode over training: one panel per game, one colour per seed."""
  runs = result['runs']
  losses = list(dict.fromkeys(r['g_loss'] for r in runs))
  rules = list(dict.fromkeys((r['update'], r['d_steps']) for r in runs))
  fig, axes = _figure(
    len(losses),
    len(rules),
    (4 * len(rules), 3 * len(losses)),
    sharex=True,
    sharey=True,
    squeeze=False,
  )
  steps = result['steps']
  for r in runs:
    ax = axes[losses.index(r['g_loss'])][rules.index((r['update'], r['d_steps']))]
    for seed, shares in enumerate(np.asarray(r['shares'])):
      ax.plot(steps, shares[:, 0], '-', color=f'C{seed}', label=f'seed {seed}')
      ax.plot(steps, shares[:, 1], '--', color=f'C{seed}')
    ax.set_title(
      f'{r["g_loss"]}, {r["update"]}, k={r["d_steps"]}: '
      f'{r["collapsed_seeds"]}/{len(r["shares"])} collapsed',
      fontsize=9,
    )
    ax.set_ylim(-0.02, 1.02)
  for ax in axes[-1]:
    ax.set_xlabel('training step')
  for ax in axes[:, 0]:
    ax.set_ylabel('share of G(z) at the mode')
  axes[0][0].legend(fontsize=7)
  fig.suptitle(
    f"Two-mode mixture, modes at {result['means']}: share of G's mass at the left "
    '(solid) and right (dashed) mode; ' + result['start'],
    fontsize=10,
  )
  fig.tight_layout()
  fig.savefig(path, dpi=110)
