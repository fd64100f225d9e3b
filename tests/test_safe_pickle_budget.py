"""The pickle reader is linear in time and memory in its input: amplification attempts (memo reuse,
repeated ``_codecs.encode``, arrays rebuilt from one buffer, nested lists, costly dict keys) are
refused or decoded within a memory bound proportional to the input length.

Memory is measured with ``tracemalloc`` (numpy reports its buffers to it). Two bounds follow from
the reader's design: inputs made of a few large strings may cost the decoded copy of the input plus
the output budget (4 bytes per input byte + 1 MiB), so at most ``6 · len + 2 MiB``; inputs made of
many one- or two-byte opcodes may create one small Python object (≤ 64 bytes) plus a few references
per opcode, so at most ``100 · len + 2 MiB``. Without the budget the first attack below needs 1 GB.
"""

import pickle
import struct
import tracemalloc

import numpy as np
import pytest

from fpjax._src.safe_pickle import UnsafePickleError, safe_unpickle

MiB = 1 << 20


# a tiny pickle assembler (opcodes as in Lib/pickle.py)
def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def unicode(s: str) -> bytes:
    e = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(e)) + e


def binbytes(b: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(b)) + b


def binint(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


PROTO3 = b"\x80\x03"
MARK, TUPLE, TUPLE1, TUPLE3, REDUCE, BUILD = b"(", b"t", b"\x85", b"\x87", b"R", b"b"
EMPTY_LIST, APPEND, APPENDS, POP, FALSE, STOP = b"]", b"a", b"e", b"0", b"\x89", b"."


def peak_bytes(data: bytes):
    """(result or the exception raised, peak bytes allocated while decoding)."""
    tracemalloc.start()
    try:
        try:
            out = safe_unpickle(data)
        except UnsafePickleError as err:
            out = err
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def repeated_encode(n_chars: int, times: int) -> bytes:
    """One memoised string passed to ``_codecs.encode`` ``times`` times."""
    body = PROTO3 + unicode("a" * n_chars) + put(0) + POP + glob("_codecs", "encode") + put(1) + POP
    body += EMPTY_LIST + MARK
    body += (get(1) + get(0) + unicode("latin1") + b"\x86" + REDUCE) * times
    return body + APPENDS + STOP


def repeated_arrays(n_bytes: int, times: int) -> bytes:
    """``times`` numpy arrays built (protocol-2 style: _reconstruct + BUILD) from one memoised buffer."""
    out = PROTO3 + glob("numpy.core.multiarray", "_reconstruct") + put(0) + POP
    out += glob("numpy", "ndarray") + put(1) + POP
    out += glob("numpy", "dtype") + unicode("u1") + b"K\x00K\x01" + TUPLE3 + REDUCE
    out += MARK + b"K\x03" + unicode("|") + b"NNN" + binint(-1) + binint(-1) + b"K\x00" + TUPLE + BUILD
    out += put(2) + POP + binbytes(b"\x07" * n_bytes) + put(3) + POP + EMPTY_LIST + MARK
    one = get(0) + get(1) + b"K\x00" + TUPLE1 + b"C\x01b" + TUPLE3 + REDUCE
    one += MARK + b"K\x01" + binint(n_bytes) + TUPLE1 + get(2) + FALSE + get(3) + TUPLE + BUILD
    return out + one * times + APPENDS + STOP


def test_the_assembled_pickles_mean_what_they_say():
    assert safe_unpickle(repeated_encode(5, 3)) == [b"aaaaa"] * 3
    assert pickle.loads(repeated_encode(5, 3)) == [b"aaaaa"] * 3
    arrays = safe_unpickle(repeated_arrays(6, 2))
    assert len(arrays) == 2 and all(a.dtype == np.uint8 and a.tolist() == [7] * 6 for a in arrays)
    ref = pickle.loads(repeated_arrays(6, 2))
    np.testing.assert_array_equal(ref[1], arrays[1])


def test_one_memoised_string_encoded_a_thousand_times_is_refused():
    data = repeated_encode(1 << 20, 1000)  # 1 MB in, 1 GB out without a budget
    out, peak = peak_bytes(data)
    assert isinstance(out, UnsafePickleError) and "_codecs.encode would bring the bytes built" in str(out)
    assert peak <= 6 * len(data) + 2 * MiB


def test_one_memoised_buffer_rebuilt_into_many_arrays_is_refused():
    data = repeated_arrays(1 << 20, 200)
    out, peak = peak_bytes(data)
    assert isinstance(out, UnsafePickleError) and "a numpy array would bring the bytes built" in str(out)
    assert peak <= 6 * len(data) + 2 * MiB


def test_within_budget_a_few_reuses_are_fine():
    # three arrays from one 1 MB buffer: 3 MB built, within 4 × 1 MB + 1 MiB
    arrays = safe_unpickle(repeated_arrays(1 << 20, 3))
    assert [a.shape for a in arrays] == [(1 << 20,)] * 3


def test_repeated_put_and_get_of_a_large_object_shares_it():
    big = b"x" * (1 << 20)
    data = PROTO3 + binbytes(big) + put(0) * 1000 + POP + EMPTY_LIST + MARK + get(0) * 100_000 + APPENDS + STOP
    out, peak = peak_bytes(data)
    assert len(out) == 100_000 and all(v is out[0] for v in out) and out[0] == big
    small_opcodes = len(data) - len(big)  # the two bounds of the module docstring, added
    assert peak <= 6 * len(big) + 100 * small_opcodes + 2 * MiB


def test_deeply_nested_lists_are_refused_in_linear_memory():
    depth = 100_000
    data = PROTO3 + EMPTY_LIST * depth + APPEND * (depth - 1) + STOP
    out, peak = peak_bytes(data)
    assert isinstance(out, UnsafePickleError) and "nesting deeper" in str(out)
    assert peak <= 100 * len(data) + 2 * MiB


def test_wide_shared_lists_are_decoded_in_linear_memory():
    # level k holds 200 references to level k-1 (8 levels): 200**8 nodes if references were copied
    data = PROTO3 + EMPTY_LIST + put(0)
    for k in range(1, 8):
        data += POP + MARK + get(k - 1) * 200 + b"l" + put(k)
    data += STOP
    out, peak = peak_bytes(data)
    assert len(out) == 200 and out[0] is out[1]
    assert peak <= 100 * len(data) + 2 * MiB


def test_memoised_objects_that_would_be_costly_to_inspect_are_refused():
    huge_str = unicode("u" * (1 << 20)) + put(0) + POP
    # a dtype name that is a 1 MB string, reused
    dtype_attack = PROTO3 + huge_str + glob("numpy", "dtype") + put(1) + POP + EMPTY_LIST + MARK
    dtype_attack += (get(1) + get(0) + b"K\x00K\x01" + TUPLE3 + REDUCE) * 1000 + APPENDS + STOP
    # a shape tuple of 100 000 ints, reused by _reconstruct
    shape = MARK + b"K\x01" * 100_000 + TUPLE + put(0) + POP
    shape_attack = PROTO3 + shape + glob("numpy.core.multiarray", "_reconstruct") + put(1) + POP
    shape_attack += glob("numpy", "ndarray") + put(2) + POP + EMPTY_LIST + MARK
    shape_attack += (get(1) + get(2) + get(0) + b"C\x01b" + TUPLE3 + REDUCE) * 1000 + APPENDS + STOP
    # a 100 kB integer used as a dict key again and again (hashing it is not cached)
    long4 = b"\x8b" + struct.pack("<i", 100_000) + b"\x01" * 100_000
    int_key = PROTO3 + long4 + put(0) + POP + b"}" + (get(0) + b"N" + b"s") * 1000 + STOP
    # keys with equal hashes (k * (2**61 - 1) all hash to 0) would make dict insertion quadratic
    colliding = PROTO3 + b"}" + MARK
    colliding += b"".join(
        b"\x8a\x09" + (k * (2**61 - 1)).to_bytes(9, "little", signed=True) + b"N" for k in range(1, 1000)
    )
    colliding += b"u" + STOP
    for name, data, match in [
        ("dtype", dtype_attack, "not a plain numeric type"),
        ("shape", shape_attack, "array shape"),
        ("int key", int_key, "dict key"),
        ("colliding keys", colliding, "dict key"),
    ]:
        out, peak = peak_bytes(data)
        assert isinstance(out, UnsafePickleError) and match in str(out), name
        assert peak <= 100 * len(data) + 2 * MiB, name


def test_huge_declared_sizes_and_digit_strings_are_malformed_not_crashes():
    cases = [
        PROTO3 + b"\x8e" + struct.pack("<Q", 1 << 60) + b"xx" + STOP,  # BINBYTES8 claiming 2**60 bytes
        b"L1" + b"0" * 5000 + b"L\n.",  # a 5000-digit decimal long (protocol 0)
        PROTO3 + b"\x8b" + struct.pack("<i", -5) + STOP,  # LONG4 with a negative length
    ]
    for data in cases:
        out, peak = peak_bytes(data)
        assert isinstance(out, UnsafePickleError)
        assert peak <= 100 * len(data) + 2 * MiB


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_an_honest_cifar_sized_batch_fits_the_budget(protocol):
    # 2000 random rows: the worst honest case for the budget (pixel bytes above 127 make the
    # protocol-2 text longer, bytes below 128 make it shortest; all values appear)
    rng = np.random.default_rng(protocol)
    batch = {b"data": rng.integers(0, 128, (2000, 3072), dtype=np.uint8), b"labels": list(range(2000))}
    data = pickle.dumps(batch, protocol=protocol)
    out, peak = peak_bytes(data)
    np.testing.assert_array_equal(out[b"data"], batch[b"data"])
    assert out[b"labels"] == batch[b"labels"]
    assert peak <= 6 * len(data) + 2 * MiB
