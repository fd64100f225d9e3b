"""Atomic file writes and the result layout shared by experiments and sweeps.

Every file fpjax writes goes through a temporary file in the same directory followed by
``os.replace``, which is atomic on POSIX: a killed process leaves either the old file or the new
one, never a torn one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "apply_umask",
    "current_umask",
    "atomic_write_json",
    "atomic_save_npz",
    "new_figure",
    "save_figure",
    "save_text",
    "to_jsonable",
    "ensure_writable_dir",
]


def ensure_writable_dir(path: str | os.PathLike, name: str = "out_dir") -> Path:
    """Create ``path`` if needed and check it is a writable directory; raise ``ValueError`` if not."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{name} {str(p)!r} cannot be created: {err.strerror or err}") from None
    if not p.is_dir():
        raise ValueError(f"{name} {str(p)!r} exists and is not a directory")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(p)!r} is not writable; choose another directory")
    return p


def current_umask() -> int:
    """The process's file-creation mask.

    Read from ``/proc/self/status`` where it exists (Linux), which leaves the mask untouched; else
    set and restored at once with ``os.umask``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the mode an ordinary ``open``/``mkdir`` would: ``0o666`` (``0o777`` for a
    directory) minus the umask. ``tempfile`` creates files 0600 and folders 0700."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename).

    The file gets the mode ``0o666 & ~umask`` (0644 typically), as a plain ``open`` would give it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        apply_umask(tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy/JAX scalars and arrays, tuples, NamedTuples and paths.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``.

    Examples:
        >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.inf)})
        {'a': 0.5, 'b': [1, 'inf']}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):  # a NamedTuple
        return to_jsonable(obj._asdict())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (str, bool, int)) or obj is None:
        return obj
    if isinstance(obj, float):
        # float() also turns a numpy float64 (a float subclass) into a plain float
        return float(obj) if np.isfinite(obj) else str(obj)
    if isinstance(obj, os.PathLike):
        return str(obj)
    if hasattr(obj, "__array__"):
        arr = np.asarray(obj)
        if arr.dtype == np.bool_:
            return arr.tolist()
        if np.issubdtype(arr.dtype, np.integer):
            return arr.tolist()
        if np.issubdtype(arr.dtype, np.floating):
            return to_jsonable(arr.astype(float).tolist()) if arr.ndim else to_jsonable(float(arr))
        if np.issubdtype(arr.dtype, np.complexfloating):
            return {"real": to_jsonable(arr.real), "imag": to_jsonable(arr.imag)}
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    raise TypeError(f"obj holds a {type(obj).__name__}, which cannot be converted to JSON")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` (converted by :func:`to_jsonable`) as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n").encode())


def atomic_save_npz(path: str | os.PathLike, **arrays) -> Path:
    """``numpy.savez`` to ``path`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def new_figure(figsize: tuple[float, float] = (6, 4), **kwargs):
    """A pyplot-free :class:`matplotlib.figure.Figure` (no global state, no display).

    Args:
        figsize: width and height in inches.
        **kwargs: passed to ``Figure`` (default ``layout="constrained"``).

    Returns:
        A new ``Figure``; draw on ``fig.subplots(...)`` and write it with :func:`save_figure`.

    Examples:
        >>> fig = new_figure((3, 2))
        >>> ax = fig.subplots()
        >>> type(fig).__name__
        'Figure'
    """
    from matplotlib.figure import Figure

    try:
        size = tuple(figsize)
        if len(size) == 3 and isinstance(size[2], str):  # (w, h, unit), as matplotlib accepts
            size = size[:2]
        w, h = (float(v) for v in size)
        ok = 0 < w < float("inf") and 0 < h < float("inf")
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"figsize must be (width, height) in inches, both > 0 and finite; got {figsize!r}")
    kwargs.setdefault("layout", "constrained")
    return Figure(figsize=figsize, **kwargs)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write a matplotlib ``Figure`` as PNG to ``path`` atomically (file mode from the umask).

    Args:
        fig: a ``matplotlib.figure.Figure`` (from :func:`new_figure`; a pyplot figure is closed
            after saving).
        path: the PNG file, usually ``out_dir / "name.png"``.
        dpi: resolution.

    Returns:
        ``path`` as a ``Path``.

    Examples:
        >>> import tempfile, pathlib
        >>> fig = new_figure((2, 2)); _ = fig.subplots().plot([0, 1])
        >>> p = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.png")
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure: release pyplot's reference
        import matplotlib.pyplot as plt

        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, e.g. a CSV table beside the figures.

    Examples:
        >>> import tempfile, pathlib
        >>> save_text("a,b\\n1,2\\n", pathlib.Path(tempfile.mkdtemp()) / "t.csv").read_text()
        'a,b\\n1,2\\n'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike); got {type(path).__name__}")
    return atomic_write_bytes(path, text.encode("utf-8"))
