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

Time and memory are linear in the input for any input: memo references are shared, never copied;
the bytes that ``REDUCE``/``BUILD`` build (``_codecs.encode`` results, arrays) are counted against a
budget of ``4 · len(data) + 1 MiB``; shapes, dtype names and dict keys are bounded before anything
iterates over, decodes or hashes them (a memoised object may be reused by every later opcode).
"""

from __future__ import annotations

import math
import pickletools
from typing import Any

import numpy as np

__all__ = ["UnsafePickleError", "safe_unpickle"]


class UnsafePickleError(ValueError):
    """The pickle holds something other than plain data and numeric numpy arrays.

    Examples:
      >>> import pickle
      >>> try:
      ...     safe_unpickle(pickle.dumps(len))
      ... except UnsafePickleError as err:
      ...     print(err)
      refusing to read this pickle: it references the global builtins.len, which could run code. CIFAR batches contain only a dict of byte strings, lists of ints and one uint8 numpy array
    """


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


# ---------------------------------------------------------------------------------------------
# the output budget: decoding is linear in the input
# ---------------------------------------------------------------------------------------------

# Bytes that REDUCE/BUILD may produce, per byte of input, plus a fixed allowance. An honest CIFAR
# batch produces each array's bytes at most twice (``_codecs.encode`` of its text, then the array),
# and its input holds those bytes at least once. Opcodes that push their own argument are not
# charged: their size is already bounded by the input.
_BUDGET_PER_INPUT_BYTE = 4
_BUDGET_ALLOWANCE = 1 << 20
_MAX_NDIM = 64  # numpy's limit
_MAX_DIM = 1 << 62


class _Budget:
    """Counts the bytes produced by REDUCE/BUILD and refuses when they exceed a multiple of the
    input length: a short pickle cannot make the reader build a large object (one memoised string
    re-encoded by ``_codecs.encode`` a thousand times, an array rebuilt from one buffer many times)."""

    __slots__ = ("limit", "spent", "n_input")

    def __init__(self, n_input: int):
        self.n_input = n_input
        self.limit = _BUDGET_PER_INPUT_BYTE * n_input + _BUDGET_ALLOWANCE
        self.spent = 0

    def charge(self, n: int, what: str) -> None:
        self.spent += n
        if self.spent > self.limit:
            _fail(
                f"{what} would bring the bytes built while decoding to {self.spent}, more than "
                f"{_BUDGET_PER_INPUT_BYTE} × the {self.n_input}-byte input + {_BUDGET_ALLOWANCE} "
                "(a pickle that re-uses one object to build many large ones)"
            )


def _check_shape(shape: Any) -> tuple:
    """A tuple of at most 64 non-negative ints below 2**62 (checked before anything iterates over
    it or multiplies it out: a memoised tuple or a huge int could be reused many times)."""
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        _fail(f"array shape {_brief(shape)} is not a tuple of at most {_MAX_NDIM} ints")
    if not all(_is_int(s) and 0 <= s < _MAX_DIM for s in shape):
        _fail("array shape holds something other than non-negative ints below 2**62")
    return shape


def _reduce(func: Any, args: Any, budget: _Budget) -> Any:
    if not isinstance(args, tuple):
        _fail("REDUCE arguments are not a tuple")
    if func is _RECONSTRUCT:
        if len(args) == 3 and args[0] is _NDARRAY and isinstance(args[2], (bytes, str)) and len(args[2]) <= 1:
            _check_shape(args[1])
            return _ArrayStub()
        _fail(f"unexpected numpy _reconstruct arguments {_brief(args)}")
    if func is _FROMBUFFER:
        # protocol 5: _frombuffer(buffer, dtype, shape, order)
        if len(args) == 4 and isinstance(args[0], bytes) and isinstance(args[1], _DtypeStub) and args[3] in ("C", "F"):
            return _make_array(args[0], args[1], args[2], args[3] == "F", budget)
        _fail(f"unexpected numpy _frombuffer arguments {_brief(args)}")
    if func is _DTYPE:
        if len(args) == 3 and isinstance(args[0], (str, bytes)) and all(a in (0, 1) for a in args[1:]):
            if len(args[0]) > 4:  # (never decode a long string: it could be memoised and reused)
                _fail(f"numpy dtype {_brief(args[0])} is not a plain numeric type")
            code = args[0].decode("ascii", "replace") if isinstance(args[0], bytes) else args[0]
            if code not in _ALLOWED_DTYPES:
                _fail(f"numpy dtype {_brief(code)} is not a plain numeric type")
            return _DtypeStub(code)
        _fail(f"unexpected numpy dtype arguments {_brief(args)}")
    if func is _ENCODE:
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            budget.charge(len(args[0]), "_codecs.encode")
            return args[0].encode("latin-1")
        _fail("_codecs.encode is only accepted with (str, 'latin1')")
    if func is _BYTES:
        if args == ():
            return b""
        _fail("bytes(...) is only accepted without arguments")
    _fail(f"REDUCE of {_brief(func)} (only numpy arrays/dtypes and latin-1 bytes are allowed)")


def _build_dtype(obj: _DtypeStub, state: Any) -> _DtypeStub:
    # numpy dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags);
    # in Python-2 pickles the byte order is a (byte) str
    if not (isinstance(state, tuple) and len(state) in (8, 9)):
        _fail(f"unexpected numpy dtype state {_brief(state)}")
    order = state[1].decode("latin-1") if isinstance(state[1], bytes) and len(state[1]) == 1 else state[1]
    if not (state[0] in (3, 4) and order in ("<", ">", "|", "=") and state[2:5] == (None, None, None)):
        _fail(f"unexpected numpy dtype state {_brief(state)}")
    obj.order = order
    return obj


def _build(obj: Any, state: Any, budget: _Budget) -> Any:
    if isinstance(obj, _DtypeStub):
        return _build_dtype(obj, state)
    if isinstance(obj, _ArrayStub):
        # ndarray state: (version, shape, dtype, is_fortran, raw data)
        if not (
            isinstance(state, tuple)
            and len(state) == 5
            and state[0] == 1
            and isinstance(state[2], _DtypeStub)
            and state[3] in (0, 1)
        ):
            _fail(f"unexpected numpy array state {_brief(state)}")
        raw = state[4]
        if isinstance(raw, str):  # Python-2 pickles read as text: the bytes are latin-1 code points
            budget.charge(len(raw), "an array's text data")
            raw = raw.encode("latin-1")
        return _make_array(_as_bytes(raw), state[2], state[1], bool(state[3]), budget)
    _fail(f"BUILD on {type(obj).__name__}")


def _make_array(raw: bytes, dtype: _DtypeStub, shape: Any, fortran: bool, budget: _Budget) -> np.ndarray:
    shape = _check_shape(shape)
    dt = np.dtype(dtype.code)
    if dtype.order in ("<", ">"):
        dt = dt.newbyteorder(dtype.order)
    need = math.prod(shape) * dt.itemsize  # exact (numpy's int64 product could wrap around)
    if need != len(raw):
        _fail(f"array data has {len(raw)} bytes, shape {shape} of {dt} needs {need}")
    budget.charge(len(raw), "a numpy array")
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


def _global(module: str, qual: str) -> _Token:
    tok = _ALLOWED_GLOBALS.get((module, qual))
    if tok is None:
        _fail(f"it references the global {f'{module}.{qual}'[:200]}, which could run code")
    return tok


# Dict keys: strings, byte strings (their hashes are cached) and ints small enough that hashing is
# O(1) and distinct keys never collide (hash(k) == k below 2**61 - 1), so no crafted set of keys
# can make dict insertion quadratic.
_MAX_INT_KEY = (1 << 61) - 2


def _pairs_to_dict(d: dict, items: list) -> dict:
    if len(items) % 2:
        _fail("odd number of dict items")
    for k, v in zip(items[::2], items[1::2]):
        if isinstance(k, bool) or not (isinstance(k, (str, bytes)) or (_is_int(k) and abs(k) <= _MAX_INT_KEY)):
            _fail(f"dict key of type {type(k).__name__} (only strings, byte strings and small ints)")
        d[k] = v
    return d


# ---------------------------------------------------------------------------------------------
# the opcode interpreter
# ---------------------------------------------------------------------------------------------

_PUSH_ARG = frozenset(
    {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "LONG", "BINFLOAT", "FLOAT", "INT"}
    | {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
)
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_EMPTY = {"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}


class _Machine:
    """The unpickler's state: stack, mark stack, memo and output budget; one method per opcode
    family, dispatched by :meth:`step`."""

    def __init__(self, n_input: int):
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.budget = _Budget(n_input)

    def pop(self) -> Any:
        if not self.stack:
            _fail("stack underflow")
        return self.stack.pop()

    def top(self, kind: type, name: str) -> Any:
        if not self.stack or not isinstance(self.stack[-1], kind):
            _fail(f"{name} on a non-{kind.__name__}")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            _fail("mark expected")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def step(self, name: str, arg: Any) -> None:
        """Run one opcode (every opcode but STOP, PROTO and FRAME)."""
        stack = self.stack
        if name in _PUSH_ARG:
            stack.append(arg)
        elif name in _CONSTANTS:
            stack.append(_CONSTANTS[name])
        elif name in ("SHORT_BINSTRING", "BINSTRING", "STRING"):
            stack.append(arg.encode("latin-1"))  # pickletools decodes Python-2 str as latin-1 text
        elif name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"):
            stack.append(bytes(arg))
        elif name in _EMPTY:
            stack.append(_EMPTY[name]())
        elif name == "MARK":
            self.metastack.append(stack)
            self.stack = []
        elif name in _CONTAINER_OPS:
            self.containers(name)
        elif name in _MEMO_OPS:
            self.memo_op(name, arg)
        elif name in ("POP", "POP_MARK", "DUP"):
            self.stack_op(name)
        elif name in ("GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD"):
            self.call(name, arg)
        else:
            _fail(f"opcode {name} is not allowed")

    def containers(self, name: str) -> None:
        if name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(self.stack) < n:
                _fail("stack underflow")
            items = tuple(self.stack[-n:])
            del self.stack[-n:]
            self.stack.append(items)
        elif name in ("TUPLE", "LIST", "DICT"):
            items = self.pop_mark()  # (pop_mark rebinds self.stack: take the items first)
            made = tuple(items) if name == "TUPLE" else items if name == "LIST" else _pairs_to_dict({}, items)
            self.stack.append(made)
        elif name == "APPEND":
            v = self.pop()
            self.top(list, "APPEND").append(v)
        elif name == "APPENDS":
            items = self.pop_mark()
            self.top(list, "APPENDS").extend(items)
        elif name == "SETITEM":
            v = self.pop()
            k = self.pop()
            _pairs_to_dict(self.top(dict, "SETITEM"), [k, v])
        else:  # SETITEMS
            items = self.pop_mark()
            _pairs_to_dict(self.top(dict, "SETITEMS"), items)

    def memo_op(self, name: str, arg: Any) -> None:
        # Memo entries are references: a GET pushes the same object, never a copy.
        if name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                _fail(f"memo key {_brief(arg)} missing")
            self.stack.append(self.memo[int(arg)])
            return
        if not self.stack:
            _fail(f"{name} on an empty stack")
        self.memo[len(self.memo) if name == "MEMOIZE" else int(arg)] = self.stack[-1]

    def stack_op(self, name: str) -> None:
        if name == "DUP":
            if not self.stack:
                _fail("DUP on an empty stack")
            self.stack.append(self.stack[-1])
        elif name == "POP" and self.stack:
            self.stack.pop()
        else:  # POP_MARK, or POP with an empty stack above a mark
            self.pop_mark()

    def call(self, name: str, arg: Any) -> None:
        if name == "GLOBAL":
            module, _, qual = str(arg).partition(" ")
            self.stack.append(_global(module, qual))
        elif name == "STACK_GLOBAL":
            qual = self.pop()
            module = self.pop()
            if not (isinstance(module, str) and isinstance(qual, str)):
                _fail("STACK_GLOBAL needs two strings")
            self.stack.append(_global(module, qual))
        elif name == "REDUCE":
            args = self.pop()
            func = self.pop()
            self.stack.append(_reduce(func, args, self.budget))
        else:  # BUILD
            state = self.pop()
            obj = self.pop()
            self.stack.append(_build(obj, state, self.budget))


_CONTAINER_OPS = frozenset(
    {"TUPLE1", "TUPLE2", "TUPLE3", "TUPLE", "LIST", "DICT", "APPEND", "APPENDS", "SETITEM", "SETITEMS"}
)
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET"})


def safe_unpickle(data: bytes) -> Any:
    """Decode a pickle made only of plain data and numeric numpy arrays; never imports/calls.

    Time and memory are linear in ``len(data)``: memo references are shared, never copied, and the
    bytes built by ``REDUCE``/``BUILD`` (``_codecs.encode``, arrays) may not exceed
    ``4 · len(data) + 1 MiB``.

    Args: ``data``: the pickle's bytes (protocols 0–5; Python-2 ``str`` values come back as
    ``bytes``, as with ``pickle.loads(..., encoding="bytes")``).
    Returns the decoded object. Raises :class:`UnsafePickleError` (a ``ValueError``) on any
    opcode, global or argument outside the allowed set, on malformed/truncated data and on a
    pickle that would build more than its budget.

    Example:
      >>> import pickle
      >>> safe_unpickle(pickle.dumps({b"labels": [3, 1], "name": "batch"}, protocol=2))
      {b'labels': [3, 1], 'name': 'batch'}
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    raw = bytes(data)
    machine = _Machine(len(raw))
    try:
        for op, arg, _pos in pickletools.genops(raw):
            if op.name == "STOP":
                if len(machine.stack) != 1 or machine.metastack:
                    _fail("malformed stream at STOP")
                return _finish(machine.stack[0])
            if op.name not in ("PROTO", "FRAME"):
                machine.step(op.name, arg)
    except UnsafePickleError:
        raise
    except (ValueError, TypeError, EOFError, IndexError, KeyError, OverflowError, UnicodeError, MemoryError) as err:
        raise UnsafePickleError(f"malformed pickle data ({type(err).__name__}: {str(err)[:200]})") from None
    _fail("stream ended without STOP")
