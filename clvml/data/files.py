"""Files the user shares get the user's permissions, whatever wrote them.

``tempfile.mkstemp`` creates files 0600 and ``tempfile.mkdtemp`` folders 0700, on purpose;
a file written atomically (temporary file, then rename) keeps that mode, so a report, a
segment export or an exported model would be private whatever the umask. :func:`share`
gives a path the mode a plain ``open()``/``mkdir()`` would have given it: 0666 (files) or
0777 (folders) minus the umask, through the whole tree of a folder.

Examples
--------
>>> import os, tempfile
>>> fd, path = tempfile.mkstemp()
>>> os.close(fd)
>>> old = os.umask(0o022)
>>> oct(share(path).stat().st_mode & 0o777)
'0o644'
>>> _ = os.umask(old)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["current_umask", "share"]

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read without changing it for other threads' files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _LOCK:  # no /proc: set and restore (the only portable way)
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def share(path: str | os.PathLike[str]) -> Path:
    """Give ``path`` (and, for a folder, everything in it) the mode the umask allows.

    Files get ``0o666 & ~umask`` (executables ``0o777 & ~umask``), folders
    ``0o777 & ~umask``. Symbolic links are left alone. Returns ``path``.
    """
    p = Path(path)
    mask = current_umask()

    def fix(q: Path, is_dir: bool) -> None:
        if q.is_symlink():
            return
        executable = is_dir or bool(q.stat().st_mode & 0o100)
        os.chmod(q, (0o777 if executable else 0o666) & ~mask)

    fix(p, p.is_dir())
    if p.is_dir():
        for root, dirs, files in os.walk(p):
            for d in dirs:
                fix(Path(root) / d, True)
            for f in files:
                fix(Path(root) / f, False)
    return p
