"""The retired argument spellings of spectrum.nudft, spectrum.periodic_amplitudes and
testing.assert_seed_mean still work for one release: they warn and give the same results."""

import warnings

import numpy as np
import pytest

from fpjax import spectrum as S
from fpjax import testing as ftesting


def test_nudft_chunk_keywords_warn_and_give_the_same_numbers():
    x = np.linspace(0.0, 1.0, 9)[:, None]
    y = np.sin(2 * np.pi * 3 * x[:, 0])
    freqs = np.array([0.0, 1.0, 3.0])
    new = S.nudft(x, y, freqs, freq_batch_size=2, point_batch_size=4)
    with pytest.warns(DeprecationWarning, match="'chunk_freqs' is deprecated; use 'freq_batch_size'"):
        old = S.nudft(x, y, freqs, chunk_freqs=2, point_batch_size=4)
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    with pytest.warns(DeprecationWarning, match="'chunk_points' is deprecated; use 'point_batch_size'"):
        old = S.nudft(x, y, freqs, freq_batch_size=2, chunk_points=4)
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    with pytest.raises(TypeError, match="both 'freq_batch_size' and its deprecated spelling 'chunk_freqs'"):
        S.nudft(x, y, freqs, freq_batch_size=2, chunk_freqs=2)


def test_periodic_amplitudes_k_warns_and_gives_the_same_numbers():
    x = np.arange(16) / 16
    f = 3 * np.sin(2 * np.pi * 5 * x)
    new = S.periodic_amplitudes(f, x, wavenumbers=[5, 0])
    with pytest.warns(DeprecationWarning, match="'k' is deprecated; use 'wavenumbers'"):
        old = S.periodic_amplitudes(f, x, k=[5, 0])
    np.testing.assert_array_equal(np.asarray(old.amps), np.asarray(new.amps))
    np.testing.assert_allclose(np.asarray(new.amps), [1.5, 0.0], atol=1e-12)


def test_assert_seed_mean_k_warns_and_acts_the_same():
    vals = [1.9, 2.1, 2.0, 2.05]  # mean 2.0125, standard error about 0.043
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ftesting.assert_seed_mean(vals, 1.0, num_standard_errors=30.0)  # 1.0125 < 30 * 0.043
    with pytest.warns(DeprecationWarning, match="'k' is deprecated; use 'num_standard_errors'"):
        ftesting.assert_seed_mean(vals, 1.0, k=30.0)
    with pytest.raises(AssertionError), pytest.warns(DeprecationWarning):
        ftesting.assert_seed_mean(vals, 1.0, k=3.0)
