"""Property-based tests (hypothesis) of the testing helpers: a NaN or Inf anywhere never passes.

``tests/test_properties_sphere.py`` covers ``assert_frequency_order`` and ``assert_seed_mean``; here
the other array helpers, ``assert_decay_rate``, ``assert_kernel_close`` and ``assert_spectra_close``.
Each property first checks that the clean input passes (so the refusal is due to the non-finite
entry alone), then puts NaN or ±Inf at a drawn position of a drawn argument and requires an
``AssertionError`` or ``ValueError``. Shapes are fixed; few examples, derandomized, no deadline.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpjax.testing as ftesting

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True, database=None)
nonfinite = st.sampled_from([np.nan, np.inf, -np.inf])

FREQS = np.arange(1.0, 9.0)
MAGS = 3.0 * FREQS**-1.5  # an exact power law, exponent 1.5
N = 16
X = np.arange(N) / N  # one period of a uniform grid
VALUES = np.sin(2 * np.pi * X) + 0.5 * np.cos(6 * np.pi * X)
SPEC_FREQS = np.array([1.0, 3.0])
KERNEL = np.eye(4) + 0.25


def _spoil(a, index, value):
    a = np.array(a, dtype=np.float64)
    a.flat[index % a.size] = value
    return a


def test_clean_inputs_pass():
    ftesting.assert_decay_rate(FREQS, MAGS, 1.5, tol=1e-6)
    ftesting.assert_kernel_close(KERNEL, KERNEL, width=64)
    ftesting.assert_spectra_close(VALUES, VALUES, X, SPEC_FREQS)


@SETTINGS
@given(st.sampled_from(["freqs", "magnitudes"]), st.integers(0, 7), nonfinite)
def test_a_nonfinite_value_never_passes_decay_rate(arg, index, value):
    args = {"freqs": FREQS, "magnitudes": MAGS}
    args[arg] = _spoil(args[arg], index, value)
    with pytest.raises((AssertionError, ValueError)):
        ftesting.assert_decay_rate(args["freqs"], args["magnitudes"], 1.5, tol=1e-6)


@SETTINGS
@given(st.sampled_from(["empirical", "expected"]), st.integers(0, 15), nonfinite)
def test_a_nonfinite_value_never_passes_kernel_close(arg, index, value):
    args = {"empirical": KERNEL, "expected": KERNEL}
    args[arg] = _spoil(args[arg], index, value)
    with pytest.raises((AssertionError, ValueError)):
        ftesting.assert_kernel_close(args["empirical"], args["expected"], width=64)


@SETTINGS
@given(st.sampled_from(["values", "expected_values", "x", "freqs"]), st.integers(0, N - 1), nonfinite)
def test_a_nonfinite_value_never_passes_spectra_close(arg, index, value):
    args = {"values": VALUES, "expected_values": VALUES, "x": X, "freqs": SPEC_FREQS}
    args[arg] = _spoil(args[arg], index, value)
    with pytest.raises((AssertionError, ValueError)):
        ftesting.assert_spectra_close(args["values"], args["expected_values"], args["x"], args["freqs"])


@SETTINGS
@given(nonfinite)
def test_a_nonfinite_exponent_or_tolerance_never_passes(value):
    for kw in ({"exponent": value, "tol": 0.1}, {"exponent": 1.5, "tol": value}):
        with pytest.raises((AssertionError, ValueError, TypeError)):
            ftesting.assert_decay_rate(FREQS, MAGS, kw["exponent"], tol=kw["tol"])
