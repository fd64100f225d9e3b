"""A pickle reader for CIFAR "python version" batches that never imports or calls anything.

``pickle.load`` on a downloaded file runs whatever the file says (``GLOBAL os system`` + ``REDUCE``
is a shell). Overriding ``Unpickler.find_class`` is not enough for CIFAR, because its batches
legitimately contain numpy arrays, which pickle as calls to ``numpy.core.multiarray._reconstruct``
and ``numpy.dtype`` (and, when written by Python 3 at protocol ≤ 2, ``_codecs.encode`` for every
``bytes`` object). So this module does not use :class:`pickle.Unpickler` at all: it walks the
opcode stream with :func:`pickletools.genops` (which only decodes opcodes and their arguments) and
interprets a small, fixed subset of opcodes itself:

* data opcodes: ints, floats, ``None``/bools, (byte) strings, tuples, lists, dicts, marks, memo
  get/put, pop/dup, proto/frame/stop;
* ``GLOBAL``/``STACK_GLOBAL`` only for the five names below, which become inert tokens — nothing is
  imported, and any other name raises :class:`UnsafePickleError` naming it;
* ``REDUCE``/``BUILD`` only with those tokens and only with the exact argument shapes numpy and
  ``_codecs`` produce; the array is then made here with ``np.frombuffer(raw, dtype).reshape(shape)``
  after checking that ``dtype`` is a plain numeric type and ``len(raw) == prod(shape)·itemsize``.

Allowed globals: ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``
(both spellings), ``numpy(._)core.numeric._frombuffer`` (protocol 5), ``numpy.ndarray``,
``numpy.dtype``, ``_codecs.encode`` (latin-1 only) and
``__builtin__.bytes``/``builtins.bytes`` (only with no arguments: ``b""``). Every other opcode
(``INST``, ``OBJ``, ``NEWOBJ``, ``PERSID``, ``EXT*``, buffers, sets, ...) is refused.
"""

from __future__ import annotations

import math
import pickletools
from typing import Any

import numpy as np

__all__ = ["UnsafePickleError", "safe_unpickle"]


class UnsafePickleError(ValueError):
    """The pickle holds something other than plain data and numeric numpy arrays."""


class _Token:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


_RECONSTRUCT, _FROMBUFFER, _NDARRAY, _DTYPE, _ENCODE, _BYTES = (
    _Token(n) for n in ("_reconstruct", "_frombuffer", "ndarray", "dtype", "encode", "bytes")
)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("_codecs", "encode"): _ENCODE,
    ("__builtin__", "bytes"): _BYTES,
    ("builtins", "bytes"): _BYTES,
}
_ALLOWED_DTYPES = {"b1", "u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"}


class _ArrayStub:
    """An ndarray announced by ``_reconstruct`` whose data arrives with ``BUILD``."""

    __slots__ = ()


class _DtypeStub:
    __slots__ = ("code", "order")

    def __init__(self, code: str):
        self.code, self.order = code, "|"


class _Mark:
    __slots__ = ()


_MARK = _Mark()


def _fail(msg: str):
    raise UnsafePickleError(
        f"refusing to read this pickle: {msg}. CIFAR batches contain only a "
        "dict of byte strings, lists of ints and one uint8 numpy array"
    )


def _brief(v: Any) -> str:
    """A bounded description of ``v`` for error messages (``repr`` of a structure of shared
    references could take exponential time)."""
    if isinstance(v, (bool, int, float)) or v is None:
        r = repr(v)
        return r if len(r) <= 40 else r[:37] + "..."
    if isinstance(v, (str, bytes)):
        return repr(v[:40]) + ("..." if len(v) > 40 else "")
    if isinstance(v, (tuple, list, dict)):
        return f"{type(v).__name__} of length {len(v)}"
    if isinstance(v, _Token):
        return repr(v)
    return type(v).__name__


def _as_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else _fail(f"expected a byte string, got {type(v).__name__}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _reduce(func: Any, args: Any) -> Any:
    if not isinstance(args, tuple):
        _fail("REDUCE arguments are not a tuple")
    if func is _RECONSTRUCT:
        if (
            len(args) == 3
            and args[0] is _NDARRAY
            and isinstance(args[1], tuple)
            and all(_is_int(s) for s in args[1])
            and isinstance(args[2], (bytes, str))
        ):
            return _ArrayStub()
        _fail(f"unexpected numpy _reconstruct arguments {_brief(args)}")
    if func is _FROMBUFFER:
        # protocol 5: _frombuffer(buffer, dtype, shape, order)
        if (
            len(args) == 4
            and isinstance(args[0], bytes)
            and isinstance(args[1], _DtypeStub)
            and isinstance(args[2], tuple)
            and args[3] in ("C", "F")
        ):
            return _make_array(args[0], args[1], args[2], args[3] == "F")
        _fail(f"unexpected numpy _frombuffer arguments {_brief(args)}")
    if func is _DTYPE:
        if len(args) == 3 and isinstance(args[0], (str, bytes)) and all(a in (0, 1) for a in args[1:]):
            code = args[0].decode("ascii", "replace") if isinstance(args[0], bytes) else args[0]
            if code not in _ALLOWED_DTYPES:
                _fail(f"numpy dtype {_brief(code)} is not a plain numeric type")
            return _DtypeStub(code)
        _fail(f"unexpected numpy dtype arguments {_brief(args)}")
    if func is _ENCODE:
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1")
        _fail("_codecs.encode is only accepted with (str, 'latin1')")
    if func is _BYTES:
        if args == ():
            return b""
        _fail("bytes(...) is only accepted without arguments")
    _fail(f"REDUCE of {_brief(func)} (only numpy arrays/dtypes and latin-1 bytes are allowed)")


def _build(obj: Any, state: Any) -> Any:
    if isinstance(obj, _DtypeStub):
        # numpy dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags);
        # in Python-2 pickles the byte order is a (byte) str
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], bytes):
            state = (state[0], state[1].decode("latin-1")) + state[2:]
        if not (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and state[2] is None
            and state[3] is None
            and state[4] is None
        ):
            _fail(f"unexpected numpy dtype state {_brief(state)}")
        obj.order = state[1]
        return obj
    if isinstance(obj, _ArrayStub):
        # ndarray state: (version, shape, dtype, is_fortran, raw data)
        if not (
            isinstance(state, tuple)
            and len(state) == 5
            and state[0] == 1
            and isinstance(state[1], tuple)
            and all(_is_int(s) and s >= 0 for s in state[1])
            and isinstance(state[2], _DtypeStub)
            and state[3] in (0, 1)
        ):
            _fail(f"unexpected numpy array state {_brief(state)}")
        raw = state[4]
        if isinstance(raw, str):  # Python-2 pickles read as text: the bytes are latin-1 code points
            raw = raw.encode("latin-1")
        return _make_array(_as_bytes(raw), state[2], state[1], bool(state[3]))
    _fail(f"BUILD on {type(obj).__name__}")


def _make_array(raw: bytes, dtype: _DtypeStub, shape: tuple, fortran: bool) -> np.ndarray:
    if not all(_is_int(s) and s >= 0 for s in shape):
        _fail(f"array shape {_brief(shape)} is not a tuple of non-negative ints")
    dt = np.dtype(dtype.code)
    if dtype.order in ("<", ">"):
        dt = dt.newbyteorder(dtype.order)
    need = math.prod(shape) * dt.itemsize  # exact (numpy's int64 product could wrap around)
    if need != len(raw):
        _fail(f"array data has {len(raw)} bytes, shape {shape} of {dt} needs {need}")
    arr = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dt.newbyteorder("="), copy=True)


def _finish(root: Any) -> Any:
    """Check that only plain data is left (no tokens, unfinished stubs or cycles) and return it.

    Containers are checked in place, each once (a memo reference shared by many containers is one
    object, not a copy), so the time is linear in the number of distinct objects, which is bounded
    by the number of opcodes."""
    done: set[int] = set()
    active: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    while stack:
        obj, depth, leaving = stack.pop()
        if leaving:
            active.discard(id(obj))
            done.add(id(obj))
            continue
        if obj is None or isinstance(obj, (bool, int, float, str, bytes, np.ndarray)):
            continue
        if not isinstance(obj, (dict, list, tuple)):
            _fail(f"unfinished object {_brief(obj)}")
        if id(obj) in active:
            _fail("a container holds itself (cyclic references)")
        if id(obj) in done:
            continue
        if depth > 8:
            _fail("nesting deeper than a CIFAR batch")
        active.add(id(obj))
        stack.append((obj, depth, True))
        items = (list(obj.keys()) + list(obj.values())) if isinstance(obj, dict) else obj
        stack.extend((v, depth + 1, False) for v in items)
    return root


def safe_unpickle(data: bytes) -> Any:
    """Decode a pickle made only of plain data and numeric numpy arrays; never imports/calls.

    Args: ``data``: the pickle's bytes (protocols 0–5; Python-2 ``str`` values come back as
    ``bytes``, as with ``pickle.loads(..., encoding="bytes")``).
    Returns the decoded object. Raises :class:`UnsafePickleError` (a ``ValueError``) on any
    opcode, global or argument outside the allowed set, and on malformed/truncated data.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    stack: list[Any] = []
    metastack: list[list[Any]] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        nonlocal stack
        if not metastack:
            _fail("mark expected")
        items = stack
        stack = metastack.pop()
        return items

    def pop():
        if not stack:
            _fail("stack underflow")
        return stack.pop()

    try:
        ops = pickletools.genops(bytes(data))
        for op, arg, _pos in ops:
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or metastack:
                    _fail("malformed stream at STOP")
                return _finish(stack[0])
            if name == "MARK":
                metastack.append(stack)
                stack = []
            elif (
                name in ("BININT", "BININT1", "BININT2", "LONG1", "LONG4", "LONG", "BINFLOAT", "FLOAT") or name == "INT"
            ):
                stack.append(arg)
            elif name == "NONE":
                stack.append(None)
            elif name in ("NEWTRUE", "NEWFALSE"):
                stack.append(name == "NEWTRUE")
            elif name in ("SHORT_BINSTRING", "BINSTRING", "STRING"):
                # pickletools decodes Python-2 str as latin-1 text; these are raw bytes
                stack.append(arg.encode("latin-1"))
            elif name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"):
                stack.append(bytes(arg))
            elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                stack.append(arg)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    _fail("stack underflow")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                items = pop_mark()
                stack.append(tuple(items))
            elif name == "LIST":
                items = pop_mark()  # (not stack.append(pop_mark()): pop_mark rebinds stack)
                stack.append(items)
            elif name == "DICT":
                items = pop_mark()
                stack.append(_pairs_to_dict({}, items))
            elif name == "APPEND":
                v = pop()
                lst = stack[-1] if stack else None
                if not isinstance(lst, list):
                    _fail("APPEND to a non-list")
                lst.append(v)
            elif name == "APPENDS":
                items = pop_mark()
                if not stack or not isinstance(stack[-1], list):
                    _fail("APPENDS to a non-list")
                stack[-1].extend(items)
            elif name == "SETITEM":
                v = pop()
                k = pop()
                if not stack or not isinstance(stack[-1], dict):
                    _fail("SETITEM on a non-dict")
                _pairs_to_dict(stack[-1], [k, v])
            elif name == "SETITEMS":
                items = pop_mark()
                if not stack or not isinstance(stack[-1], dict):
                    _fail("SETITEMS on a non-dict")
                _pairs_to_dict(stack[-1], items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if not stack:
                    _fail("PUT on an empty stack")
                memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                if not stack:
                    _fail("MEMOIZE on an empty stack")
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if int(arg) not in memo:
                    _fail(f"memo key {arg} missing")
                stack.append(memo[int(arg)])
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                if not stack:
                    _fail("DUP on an empty stack")
                stack.append(stack[-1])
            elif name == "GLOBAL":
                module, _, qual = str(arg).partition(" ")
                stack.append(_global(module, qual))
            elif name == "STACK_GLOBAL":
                qual = pop()
                module = pop()
                if not (isinstance(module, str) and isinstance(qual, str)):
                    _fail("STACK_GLOBAL needs two strings")
                stack.append(_global(module, qual))
            elif name == "REDUCE":
                args = pop()
                func = pop()
                stack.append(_reduce(func, args))
            elif name == "BUILD":
                state = pop()
                obj = pop()
                stack.append(_build(obj, state))
            else:
                _fail(f"opcode {name} is not allowed")
    except UnsafePickleError:
        raise
    except (ValueError, TypeError, EOFError, IndexError, KeyError, OverflowError, UnicodeError, MemoryError) as err:
        raise UnsafePickleError(f"malformed pickle data ({type(err).__name__}: {err})") from None
    _fail("stream ended without STOP")


def _global(module: str, qual: str) -> _Token:
    tok = _ALLOWED_GLOBALS.get((module, qual))
    if tok is None:
        _fail(f"it references the global {module}.{qual}, which could run code")
    return tok


def _pairs_to_dict(d: dict, items: list) -> dict:
    if len(items) % 2:
        _fail("odd number of dict items")
    for k, v in zip(items[::2], items[1::2]):
        if not isinstance(k, (str, bytes, int)):
            _fail(f"dict key of type {type(k).__name__}")
        d[k] = v
    return d
