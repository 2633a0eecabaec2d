"""kNN speed: numba brute force vs blocked GEMM (both exact), as used by LOF / THEMIS / APRE.

Run with one BLAS thread for a fair single-core comparison::

    OMP_NUM_THREADS=1 python benchmarks/knn_speed.py [--queries 2000 10000 50000]

Prints the seconds of each and the ratio brute / GEMM (> 1 means GEMM is faster) for random
normal data, ``--reference`` rows of dimension ``--dim`` and ``k`` neighbours, and checks that
both return the same neighbours.
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import best_of

from anomalyd.detectors._knn import knn_brute, knn_gemm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--reference", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(args.reference, args.dim))
    knn_brute(ref[:10], ref, args.k)  # compile outside the timings
    knn_gemm(ref[:10], ref, args.k)
    print(f"reference {args.reference} x dim {args.dim}, k={args.k}")
    print(f"{'queries':>8} {'brute s':>9} {'gemm s':>9} {'brute/gemm':>11}")
    for n in args.queries:
        query = rng.normal(size=(n, args.dim))
        same = np.array_equal(knn_brute(query, ref, args.k)[1], knn_gemm(query, ref, args.k)[1])
        assert same, "the two implementations disagree"
        t_brute = best_of(lambda q=query: knn_brute(q, ref, args.k), args.repeats)
        t_gemm = best_of(lambda q=query: knn_gemm(q, ref, args.k), args.repeats)
        print(f"{n:>8} {t_brute:>9.3f} {t_gemm:>9.3f} {t_brute / t_gemm:>11.1f}")


if __name__ == "__main__":
    main()
