"""A strict reader for LeCun's idx format (MNIST, Fashion-MNIST).

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number (two zero
bytes, a dtype code, the number of dimensions), one big-endian uint32 per
dimension, then the values in C order, big-endian. Files may be gzipped.

Every defect raises `DataError` with one line naming the file; no other
exception escapes, whatever the bytes.
"""

import gzip
import math
import os
import zlib

import numpy as np

from gan_jax.base.errors import DataError

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions: [N, rows, cols].
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension: [N].

_DTYPES = {
  0x08: np.dtype(np.uint8),
  0x09: np.dtype(np.int8),
  0x0B: np.dtype('>i2'),
  0x0C: np.dtype('>i4'),
  0x0D: np.dtype('>f4'),
  0x0E: np.dtype('>f8'),
}
_KINDS = {IMAGES_MAGIC: 'images', LABELS_MAGIC: 'labels'}
_GZIP_MAGIC = b'\x1f\x8b'
# No idx file we read has more than 3 dimensions; a cap keeps a random header
# from asking for a huge number of dimension fields.
_MAX_NDIM = 8
_MAX_BYTES = 2**48  # Far above any real idx file, far below numpy's limit.


def read_idx(source, *, expected_magic: int | None = None, name: str | None = None) -> np.ndarray:
  """Reads one idx file, gzipped or not.

  Args:
    source: a path, or the file's bytes.
    expected_magic: if given, the exact magic number required (`IMAGES_MAGIC`
      or `LABELS_MAGIC`); a different one is an error.
    name: what to call `source` in error messages (default: the path, or
      '<bytes>').

  Returns:
    A writable array in native byte order, shaped as the header says.

  Raises:
    DataError: the file is unreadable, not gzip when named .gz, not idx, or
      its payload does not match its header.
  """
  if isinstance(source, (bytes, bytearray, memoryview)):
    data = bytes(source)
    name = name or '<bytes>'
    named_gz = False
  else:
    path = os.fspath(source)
    name = name or path
    named_gz = path.endswith('.gz')
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      raise DataError(f'{name}: cannot read ({e.strerror or e}).') from None

  if data[:2] == _GZIP_MAGIC:
    data = _gunzip(data, name, expected_magic)
  elif named_gz:
    raise DataError(
      f'{name}: not a gzip file although named .gz; '
      're-download it or remove the .gz suffix if it is raw idx.'
    )
  return _parse(data, name, expected_magic)


def _gunzip(data: bytes, name: str, expected_magic: int | None) -> bytes:
  """Inflates only what the idx header, read from the first inflated bytes, declares.

  A gzip bomb (a small file inflating to gigabytes) is refused before it is inflated: its
  header is garbage, or declares more than the gzip bytes can hold (deflate inflates at most
  ~1032x) or than this machine's memory.
  """
  inflater = zlib.decompressobj(wbits=31)  # gzip framing
  try:
    head = inflater.decompress(data, 4 + 4 * _MAX_NDIM)  # the longest header
    dtype, dims, header_len = _header(head, name, expected_magic)
    size = header_len + dtype.itemsize * math.prod(dims)
    if size > _MAX_GZIP_RATIO * len(data) or size > _memory_bytes():
      raise DataError(
        f'{name}: its header declares {dims} x {dtype.name} ({size:,} bytes), more than '
        f'{len(data):,} gzip bytes can hold or this machine can load; refused before inflating '
        '(a gzip bomb or a damaged file): re-download it.'
      )
    room = size + 1 - len(head)  # max_length 0 would mean no limit
    rest = inflater.decompress(inflater.unconsumed_tail, room) if room > 0 else b''
    if len(head) + len(rest) <= size and not inflater.eof:
      raise zlib.error('the compressed stream ends early')
  except zlib.error as e:
    raise DataError(f'{name}: corrupt gzip data ({e}); re-download the file.') from None
  return head + rest  # at most one byte past the declared size: _parse names any excess


_MAX_GZIP_RATIO = 1100  # deflate's limit is about 1032:1


def _memory_bytes() -> int:
  try:
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError):
    return _MAX_BYTES


def _header(
  data: bytes, name: str, expected_magic: int | None
) -> tuple[np.dtype, tuple[int, ...], int]:
  """(dtype, dims, header length) of the idx header at the start of `data` (the whole file or
  its first bytes); DataError if it is not one."""
  if len(data) < 4:
    raise DataError(
      f'{name}: truncated header ({len(data)} bytes; an idx file '
      'starts with a 4-byte magic number); is this an idx file?'
    )
  magic = int.from_bytes(data[:4], 'big')
  if expected_magic is not None and magic != expected_magic:
    raise DataError(
      f'{name}: wrong magic number 0x{magic:08x} (expected '
      f'0x{expected_magic:08x} for {_KINDS.get(expected_magic, "this file")}'
      '); is this an idx file?'
    )
  if data[0] or data[1]:
    raise DataError(
      f'{name}: wrong magic number 0x{magic:08x} (the first two '
      'bytes of an idx file are zero); is this an idx file?'
    )
  dtype = _DTYPES.get(data[2])
  if dtype is None:
    raise DataError(
      f'{name}: unknown idx dtype code 0x{data[2]:02x} in magic '
      f'number 0x{magic:08x} (known: '
      f'{", ".join(f"0x{c:02x}" for c in _DTYPES)}).'
    )
  ndim = data[3]
  if not 1 <= ndim <= _MAX_NDIM:
    raise DataError(
      f'{name}: magic number 0x{magic:08x} declares {ndim} dimensions (expected 1 to {_MAX_NDIM}).'
    )
  header_len = 4 + 4 * ndim
  if len(data) < header_len:
    raise DataError(
      f'{name}: truncated header ({len(data)} bytes; {ndim} dimensions need {header_len}).'
    )
  dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], 'big') for i in range(ndim))
  # Python ints: the products cannot overflow, and they are checked before
  # anything is allocated. numpy refuses a shape whose non-zero dimensions
  # multiply past its index range, even with a zero among them.
  if dtype.itemsize * math.prod(d for d in dims if d) > _MAX_BYTES:
    raise DataError(
      f'{name}: header dimensions {dims} describe an impossible array; is this an idx file?'
    )
  return dtype, dims, header_len


def _parse(data: bytes, name: str, expected_magic: int | None) -> np.ndarray:
  """Validates the header against the payload, then views the payload."""
  dtype, dims, header_len = _header(data, name, expected_magic)
  expected = dtype.itemsize * math.prod(dims)
  payload = len(data) - header_len
  if payload < expected:
    raise DataError(
      f'{name}: truncated payload (header says {dims} x '
      f'{dtype.name} = {expected} bytes, file has {payload}); '
      're-download the file.'
    )
  if payload > expected:
    raise DataError(
      f'{name}: {payload - expected} trailing bytes after the '
      f'payload (header says {dims} x {dtype.name} = {expected} '
      'bytes); is the header or the file wrong?'
    )
  values = np.frombuffer(data, dtype=dtype, offset=header_len)
  return values.reshape(dims).astype(dtype.newbyteorder('='))


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes `array` as an idx file (gzipped if `path` ends in .gz).

  Used to make test fixtures; the inverse of `read_idx`.

  Args:
    path: where to write.
    array: an array whose dtype has an idx code (uint8, int8, int16, int32,
      float32, float64).
  """
  codes = {np.dtype(d).newbyteorder('='): c for c, d in _DTYPES.items()}
  array = np.asarray(array)
  code = codes[array.dtype.newbyteorder('=')]
  header = bytes([0, 0, code, array.ndim]) + b''.join(d.to_bytes(4, 'big') for d in array.shape)
  data = header + array.astype(_DTYPES[code]).tobytes()
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'wb') as f:
    f.write(data)
