"""Where messages go, one place for all: progress on stdout, warnings on stderr.

Progress lines (`[HH:MM:SS] ...`) come from the primary process only. Warnings (something was
wrong and was handled) are `warning: ...` lines through the `gan_jax` logger, whatever the
verbosity of absl's logging, which entry points turn down to keep library chatter (orbax, JAX)
out of the way. Details (what was read, prepared or joined) are plain lines through the same
logger, shown only when an entry point asks for them (`--verbose`: set_verbose). Errors are not
logged: they are raised (gan_jax.base.errors) and printed once by the entry point.
"""

import logging
import re
import sys
import threading
import time
import unicodedata
import warnings


class _StderrHandler(logging.StreamHandler):
  """Writes to whatever sys.stderr is at the time (it may be replaced after import)."""

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value):
    del value


class _Formatter(logging.Formatter):
  def format(self, record: logging.LogRecord) -> str:
    text = record.getMessage()
    return f'warning: {text}' if record.levelno >= logging.WARNING else text


_logger = logging.getLogger('gan_jax')
if not _logger.handlers:
  _handler = _StderrHandler()
  _handler.setFormatter(_Formatter())
  _logger.addHandler(_handler)
  _logger.setLevel(logging.WARNING)
  _logger.propagate = False


# Terminal escape sequences (CSI: ESC [ ... final byte; OSC: ESC ] ... BEL or ESC \; and two-byte
# ESC x): a file name or value holding one could rewrite the terminal that prints the line.
_ESCAPES = re.compile(r'\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])')


def one_line(message: str) -> str:
  """`message` as one printable line: escape sequences removed, other control characters
  shown as escapes (\\x07), runs of blanks and line breaks as one space."""
  text = _ESCAPES.sub('', message)
  text = ' '.join(text.split())
  return ''.join(
    c.encode('unicode_escape').decode() if unicodedata.category(c) in ('Cc', 'Cs') else c
    for c in text
  )


def info(message: str) -> None:
  """A progress line on stdout, from the primary process only."""
  import jax  # imported here: refusing bad input must not wait for JAX

  if jax.process_index() == 0:
    print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


def warn(message: str) -> None:
  """One `warning: ...` line on stderr."""
  _logger.warning('%s', one_line(message))


def detail(message: str) -> None:
  """A line on stderr shown only when details were asked for (set_verbose)."""
  _logger.info('%s', message)


def set_verbose(verbose: bool) -> None:
  """Shows detail() lines (True) or only warnings (False, the default)."""
  _logger.setLevel(logging.INFO if verbose else logging.WARNING)


# What a failed asynchronous read or write of orbax/tensorstore leaves behind: callbacks that
# fire after its event loop closed, and coroutines that never ran. They are echoes of a failure
# already reported in one line naming its file (a skipped checkpoint, a full disk).
# TensorBoard's writer thread, flushing at exit onto the disk whose filling the run already
# reported, fails the same way (and then on its closed file).
_ECHOES = (
  'Event loop is closed',
  'coroutine ignored GeneratorExit',
  'cannot reuse already awaited',
  'No space left on device',
  'handle is closed',
)
_background_seen: set[str] = set()


def _is_echo(error: BaseException | None, subject) -> bool:
  text = str(error) if error is not None else ''
  return any(e in text for e in _ECHOES) or type(subject).__name__ == 'coroutine'


def _background(error: BaseException | None, subject) -> None:
  """A background error: silent when it is an echo, else one `warning:` line per distinct
  error (never a traceback)."""
  if _is_echo(error, subject):
    return
  text = f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'
  if text not in _background_seen:
    _background_seen.add(text)
    where = f' in {subject!r:.200}' if subject is not None else ''
    warn(f'a background task failed{where} ({text}); rerun with --verbose for details')


def catch_background_errors() -> None:
  """Routes errors raised where nobody awaits them (threads, C++ callbacks, finalisers) through
  _background: one line at most, never hundreds of tracebacks. For entry points, unless the
  user asked for every traceback (--verbose)."""
  sys.unraisablehook = lambda u: _background(u.exc_value, u.object)
  threading.excepthook = lambda a: _background(a.exc_value, getattr(a.thread, 'name', None))
  warnings.filterwarnings('ignore', message=r'coroutine .* was never awaited')
