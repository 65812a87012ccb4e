#!/usr/bin/python3
"""The polynomial of least relative error for exp(r) on [-ln2/2, ln2/2] (Remez exchange), as the
AVX-512 SiLU loop in src/kernels/vec/unary_loops.cc uses it: prints the error before rounding and the
coefficients rounded to float, constant term first.

    /usr/bin/python3 scripts/minimax_exp.py [degree]     (default 5; needs python3-numpy)
"""
import sys

import numpy as np


def minimax_exp(degree, half_width=np.log(2) / 2, iterations=50):
    n = degree + 2
    x = half_width * np.cos(np.pi * np.arange(n)[::-1] / (n - 1))  # Chebyshev extrema to start
    grid = np.linspace(-half_width, half_width, 400001)
    for _ in range(iterations):
        # p(x_i) - e^x_i = (-1)^i E e^x_i: the error alternates in sign at the n reference points.
        a = np.zeros((n, n))
        for i in range(n):
            a[i, :degree + 1] = x[i] ** np.arange(degree + 1)
            a[i, degree + 1] = -((-1) ** i) * np.exp(x[i])
        solution = np.linalg.solve(a, np.exp(x))
        coefficients = solution[:degree + 1]
        err = (np.polyval(coefficients[::-1], grid) - np.exp(grid)) / np.exp(grid)
        # The new reference: the extrema of the error, alternating in sign, the n largest.
        turns = np.where(np.diff(np.sign(np.diff(err))) != 0)[0] + 1
        chosen = []
        for p in [0, *turns, len(grid) - 1]:
            if chosen and np.sign(err[p]) == np.sign(err[chosen[-1]]):
                if abs(err[p]) > abs(err[chosen[-1]]):
                    chosen[-1] = p
            else:
                chosen.append(p)
        while len(chosen) > n:
            chosen.pop(0 if abs(err[chosen[0]]) < abs(err[chosen[-1]]) else -1)
        x = grid[chosen]
    return coefficients, np.max(np.abs(err))


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    coefficients, err = minimax_exp(degree)
    print(f"degree {degree}: largest relative error {err:.3g} before rounding (float's ulp at 1: {2**-23:.3g})")
    for i, c in enumerate(coefficients):
        print(f"c{i} = {np.float32(c):.10e}")


if __name__ == "__main__":
    main()
