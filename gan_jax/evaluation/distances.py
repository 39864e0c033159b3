"""Chunked squared Euclidean distances in JAX: nearest neighbours and ball membership.

Every kernel here takes the matmul form ‖q‖² + ‖r‖² − 2q·r, since one [bq, D] x [D, br] matmul
per chunk pair is what makes 10k x 50k distances in 784 dimensions affordable on a CPU. Queries
are mapped over in chunks (lax.map) and references scanned in chunks (lax.scan) with a running
reduction, so peak memory is O(chunk_q * chunk_r) whatever the sizes.

Float32 accuracy: ‖q‖² and 2q·r are large and nearly cancel for near neighbours. Centring both
sets on the references' mean shrinks them, and the distances returned for the selected
neighbours are recomputed in difference form ‖q − r‖², which has no cancellation. The matmul
form is then only used to rank, where an error of ~1e-6 relative to ‖q‖‖r‖ can swap two
neighbours at practically equal distances but never changes a reported distance materially.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

# [bq, br] float32 blocks of 1-4M entries keep a matmul at the machine's peak without large
# temporaries.
CHUNK_QUERIES = 1000
CHUNK_REFERENCES = 2000


# On GPUs JAX's default f32 matmul is TF32-like (and bf16 passes on TPUs): every evaluation
# matmul asks for full f32, so a number measured on an accelerator is the CPU's.
PRECISION = jax.lax.Precision.HIGHEST


def matmul(a: Array, b: Array) -> Array:
  """a @ b at full float32 precision on every backend."""
  return jnp.matmul(a, b, precision=PRECISION)


def as_flat_float32(x) -> np.ndarray:
  """[N, ...] -> float32 [N, D]."""
  x = np.asarray(x)
  return x.reshape(x.shape[0], -1).astype(np.float32, copy=False)


def centre(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Both sets shifted by the references' mean (float64), for float32 matmul-form accuracy."""
  mean = references.mean(axis=0, dtype=np.float64).astype(np.float32)
  return queries - mean, references - mean


def pad_chunks(x: Array, size: int) -> Array:
  """[N, ...] -> [ceil(N / size), size, ...], zero-padded at the end."""
  n = x.shape[0]
  num = -(-n // size)
  x = jnp.pad(x, [(0, num * size - n)] + [(0, 0)] * (x.ndim - 1))
  return x.reshape(num, size, *x.shape[1:])


def chunk_sizes(
  num_queries: int, num_references: int, chunk_queries: int, chunk_references: int
) -> tuple[int, int]:
  """Chunk sizes no larger than the sets (a small set is one chunk, with no wasted padding)."""
  return max(1, min(chunk_queries, num_queries)), max(1, min(chunk_references, num_references))


def half_sq_norms_masked(references: Array, num_valid: int) -> Array:
  """‖r‖²/2 per chunked reference [c, br]; +inf on padding, so q·r − ‖r‖²/2 = −inf there."""
  half = 0.5 * jnp.sum(references * references, axis=-1)
  index = jnp.arange(half.size).reshape(half.shape)
  return jnp.where(index < num_valid, half, jnp.inf)


def nearest(
  queries,
  references,
  *,
  k: int = 1,
  chunk_queries: int = CHUNK_QUERIES,
  chunk_references: int = CHUNK_REFERENCES,
) -> tuple[np.ndarray, np.ndarray]:
  """The k nearest references of every query (squared Euclidean distance).

  Args:
    queries: [N, ...] array-like.
    references: [M, ...] with the same trailing size, M >= k.
    k: neighbours per query.
    chunk_queries, chunk_references: chunk sizes (memory is O(their product)).

  Returns:
    (squared distances float64 [N, k], ascending; indices int [N, k] into references).
  """
  q, r = centre(as_flat_float32(queries), as_flat_float32(references))
  if r.shape[0] < k:
    raise ValueError(f'need at least k={k} references, got {r.shape[0]}')
  bq, br = chunk_sizes(q.shape[0], r.shape[0], chunk_queries, chunk_references)
  sq, idx = _nearest(jnp.asarray(q), jnp.asarray(r), k=k, bq=bq, br=br)
  sq, idx = np.asarray(sq, np.float64), np.asarray(idx)
  order = np.argsort(sq, axis=1, kind='stable')
  return np.take_along_axis(sq, order, 1), np.take_along_axis(idx, order, 1)


@functools.partial(jax.jit, static_argnames=('k', 'bq', 'br'))
def _nearest(q: Array, r: Array, *, k: int, bq: int, br: int) -> tuple[Array, Array]:
  n, m = q.shape[0], r.shape[0]
  r_chunks = pad_chunks(r, br)
  half = half_sq_norms_masked(r_chunks, m)
  offsets = jnp.arange(r_chunks.shape[0]) * br

  def per_query_chunk(qc):
    def step(carry, chunk):
      best, best_idx = carry
      rc, hc, offset = chunk
      # Larger q·r − ‖r‖²/2 is nearer: it is −‖q − r‖²/2 up to the constant ‖q‖²/2.
      g = matmul(qc, rc.T) - hc[None, :]
      if k == 1:
        j = jnp.argmax(g, axis=1)
        gj = jnp.take_along_axis(g, j[:, None], 1)
        better = gj > best
        return (jnp.where(better, gj, best), jnp.where(better, j[:, None] + offset, best_idx)), None
      cand = jnp.concatenate([best, g], axis=1)
      cand_idx = jnp.concatenate(
        [best_idx, jnp.broadcast_to(jnp.arange(br) + offset, g.shape)], axis=1
      )
      top, pos = jax.lax.top_k(cand, k)
      return (top, jnp.take_along_axis(cand_idx, pos, 1)), None

    init = (jnp.full((qc.shape[0], k), -jnp.inf, q.dtype), jnp.zeros((qc.shape[0], k), jnp.int32))
    (_, idx), _ = jax.lax.scan(step, init, (r_chunks, half, offsets))
    # Exact (difference-form) distances of the chosen neighbours: no cancellation.
    diff = qc[:, None, :] - r[idx]
    return jnp.sum(diff * diff, axis=-1), idx

  sq, idx = jax.lax.map(per_query_chunk, pad_chunks(q, bq))
  return sq.reshape(-1, k)[:n], idx.reshape(-1, k)[:n]


def within_any_ball(
  queries,
  centres,
  sq_radii,
  *,
  chunk_queries: int = CHUNK_QUERIES,
  chunk_references: int = CHUNK_REFERENCES,
) -> np.ndarray:
  """Whether each query lies in at least one ball ‖q − c_j‖² <= sq_radii_j.

  The boundary is widened by a float32 rounding bound, 1e-5 (‖q‖² + ‖c‖²) after centring, so a
  point always lies in its own ball even when that ball has radius 0 (duplicated data).

  Args:
    queries: [N, ...]; centres: [M, ...]; sq_radii: [M] squared radii.

  Returns:
    bool [N].
  """
  q, c = centre(as_flat_float32(queries), as_flat_float32(centres))
  bq, br = chunk_sizes(q.shape[0], c.shape[0], chunk_queries, chunk_references)
  return np.asarray(
    _within_any_ball(
      jnp.asarray(q), jnp.asarray(c), jnp.asarray(sq_radii, jnp.float32), bq=bq, br=br
    )
  )


@functools.partial(jax.jit, static_argnames=('bq', 'br'))
def _within_any_ball(q: Array, c: Array, sq_radii: Array, *, bq: int, br: int) -> Array:
  n, m = q.shape[0], c.shape[0]
  c_chunks = pad_chunks(c, br)
  half = 0.5 * jnp.sum(c_chunks * c_chunks, axis=-1)
  radii = pad_chunks(sq_radii, br)
  valid = jnp.arange(half.size).reshape(half.shape) < m

  def per_query_chunk(qc):
    q_half = 0.5 * jnp.sum(qc * qc, axis=1)

    def step(inside, chunk):
      cc, hc, rc, vc = chunk
      # ‖q − c‖²/2 = ‖q‖²/2 + ‖c‖²/2 − q·c.
      half_sq = q_half[:, None] + hc[None, :] - matmul(qc, cc.T)
      slack = 1e-5 * (q_half[:, None] + hc[None, :])
      hit = (half_sq <= 0.5 * rc[None, :] + slack) & vc[None, :]
      return inside | jnp.any(hit, axis=1), None

    inside, _ = jax.lax.scan(step, jnp.zeros(qc.shape[0], bool), (c_chunks, half, radii, valid))
    return inside

  return jax.lax.map(per_query_chunk, pad_chunks(q, bq)).reshape(-1)[:n]
