"""What the networks see of an image, and how it is shown again.

`pixels`: uint8 / 255, in [0, 1]. `gcn`: pylearn2's global contrast normalisation with
`gcn: 55.` (the original cifar10 configs): per image, subtract its mean and scale it to L2
norm 55 (an image of norm below 1e-8 is only centred, as pylearn2's min_divisor). GCN is
scale-invariant, so it gives the same from [0, 255] and [0, 1] pixels.

GCN forgets each image's mean and contrast, so it cannot be undone: GCN'd images (real or
generated) are shown contrast-stretched, each mapped affinely onto [0, 1] by its own min and max.
A real image so shown is its raw pixels stretched (GCN is a per-image positive affine map).
"""

import jax.numpy as jnp
import numpy as np

PREPROCESSINGS = ('pixels', 'gcn')
GCN_SCALE = 55.0
GCN_MIN_DIVISOR = 1e-8


def gcn(x, *, scale: float = GCN_SCALE, xp=jnp):
  """Global contrast normalisation of flat examples [N, D] (any leading axes): float32."""
  x = x - xp.mean(x, axis=-1, keepdims=True)
  norm = xp.sqrt(xp.sum(x * x, axis=-1, keepdims=True))
  return scale * x / xp.where(norm < GCN_MIN_DIVISOR, 1.0, norm)


def stretch(x, *, xp=np):
  """Each flat example [N, D] mapped affinely onto [0, 1] by its min and max (constant: 0.5)."""
  lo = xp.min(x, axis=-1, keepdims=True)
  span = xp.max(x, axis=-1, keepdims=True) - lo
  safe = xp.where(span > 0, span, 1.0)
  return xp.where(span > 0, (x - lo) / safe, 0.5).astype(xp.float32)


def display_note(preprocessing: str) -> str:
  """How images of `preprocessing` are shown, for grids and reports."""
  if preprocessing == 'gcn':
    return (
      'contrast-normalised (GCN, L2 norm 55): each image shown stretched onto [0, 1] by '
      'its own min and max; real images are shown (and evaluated) the same way'
    )
  return 'pixels in [0, 1]'
