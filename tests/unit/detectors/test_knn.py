"""Exact kNN: both implementations against scikit-learn / scipy, ties, rounding, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from anomalyd.detectors._knn import knn, knn_brute, knn_gemm

IMPLS = [pytest.param(knn_brute, id="brute"), pytest.param(knn_gemm, id="gemm")]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("n_query", "n_ref", "dim", "k"), [(40, 60, 3, 1), (300, 900, 64, 20)])
def test_matches_sklearn(impl: object, n_query: int, n_ref: int, dim: int, k: int) -> None:
    rng = np.random.default_rng(n_ref)
    query, ref = rng.normal(size=(n_query, dim)), rng.normal(size=(n_ref, dim))
    want_d, want_i = NearestNeighbors(n_neighbors=k).fit(ref).kneighbors(query)
    got_d, got_i = impl(query, ref, k)  # type: ignore[operator]
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-12, atol=1e-12)
    assert got_d.shape == (n_query, k) and got_i.dtype == np.int64


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("k", [1, 5, 29])
def test_exclude_self_matches_sklearn_without_x(impl: object, k: int) -> None:
    ref = np.random.default_rng(k).normal(size=(30, 4))
    want_d, want_i = NearestNeighbors(n_neighbors=k).fit(ref).kneighbors()
    got_d, got_i = impl(ref, ref, k, exclude_self=True)  # type: ignore[operator]
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-12, atol=1e-12)
    assert not (got_i == np.arange(30)[:, None]).any()


@settings(max_examples=40, deadline=None)
@given(
    ref=arrays(
        np.float64, st.tuples(st.integers(2, 40), st.integers(1, 5)), elements=st.integers(-3, 3)
    ),
    data=st.data(),
)
def test_ties_and_duplicates_agree_exactly(ref: np.ndarray, data: st.DataObject) -> None:
    """Integer data (many ties): same neighbours, ties to the lower index, exact distances."""
    exclude = data.draw(st.booleans())
    k = data.draw(st.integers(1, len(ref) - int(exclude)))
    query = (
        ref
        if exclude
        else data.draw(arrays(np.float64, (7, ref.shape[1]), elements=st.integers(-3, 3)))
    )
    d_brute, i_brute = knn_brute(query, ref, k, exclude_self=exclude)
    d_gemm, i_gemm = knn_gemm(query, ref, k, exclude_self=exclude)
    np.testing.assert_array_equal(i_gemm, i_brute)
    np.testing.assert_array_equal(d_gemm, d_brute)
    full = cdist(query, ref)
    if exclude:
        np.fill_diagonal(full, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(ref)), full.shape), full), axis=-1)[:, :k]
    np.testing.assert_array_equal(i_brute, order)
    np.testing.assert_allclose(d_brute, np.take_along_axis(full, order, 1), atol=1e-12)


def test_far_from_origin_needs_the_exact_fallback() -> None:
    """Large norms make ||a||^2 + ||b||^2 - 2ab lose digits: the result must stay exact."""
    rng = np.random.default_rng(5)
    ref = 1e7 + rng.normal(size=(200, 8)) * 1e-3
    query = 1e7 + rng.normal(size=(50, 8)) * 1e-3
    want_d, want_i = NearestNeighbors(n_neighbors=6).fit(ref - 1e7).kneighbors(query - 1e7)
    got_d, got_i = knn(query, ref, 6)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-6)
    np.testing.assert_array_equal(got_i, knn_brute(query, ref, 6)[1])


def test_rows_do_not_depend_on_batching() -> None:
    rng = np.random.default_rng(6)
    ref, query = rng.normal(size=(500, 16)), rng.normal(size=(100, 16))
    whole_d, whole_i = knn(query, ref, 7)
    for i in (0, 37, 99):
        one_d, one_i = knn(query[i : i + 1], ref, 7)
        np.testing.assert_array_equal(one_d[0], whole_d[i])
        np.testing.assert_array_equal(one_i[0], whole_i[i])


def test_empty_query() -> None:
    d, i = knn(np.empty((0, 3)), np.ones((4, 3)), 2)
    assert d.shape == (0, 2) and i.shape == (0, 2)


@pytest.mark.parametrize(
    ("query", "ref", "k", "exclude", "match"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), 1, False, "same number of columns"),
        (np.ones(3), np.ones((3, 3)), 1, False, "2-D arrays"),
        (np.ones((3, 2)), np.ones((4, 2)), 5, False, r"`k` must be in \[1, 4\]"),
        (np.ones((4, 2)), np.ones((4, 2)), 4, True, r"`k` must be in \[1, 3\]"),
        (np.ones((4, 2)), np.ones((4, 2)), 0, False, r"`k` must be in \[1, 4\]"),
        (np.ones((3, 2)), np.ones((4, 2)), 1, True, "query` to be the reference set"),
    ],
)
def test_bad_arguments(
    query: np.ndarray, ref: np.ndarray, k: int, exclude: bool, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        knn(query, ref, k, exclude_self=exclude)
