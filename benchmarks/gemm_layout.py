"""Where addmm computes c + x @ W^T as (W x^T)^T: the product's time in both layouts, over a grid of shapes.

A recurrent step multiplies a few rows (the batch) by a transposed weight W^T, a column-major view. OpenBLAS's
sgemm runs that up to 2x slower than the same product laid out as (W x^T)^T, whose column-major result the
addition of c writes back row-major. `ops.linalg.transposed_product_pays` picks the layout from the shape; this
prints, for rows x (k, m), the time of the layout it picks over the other's, so that a machine with another BLAS
can check the rule: below 1.00 the rule gains, above it the rule loses.

    python benchmarks/gemm_layout.py [--dtype float32|float64] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import timeit

import harness
import numpy as np

from tinygrad_rnn.ops.linalg import transposed_product_pays

ROWS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 128)
DEPTHS = (64, 128, 256, 512)
COLUMNS = (64, 128, 256, 512, 1024, 2048)


def microseconds(run, calls: int) -> float:
    """The fastest of five timings of `calls` calls, per call."""
    run()
    return min(timeit.repeat(run, number=calls, repeat=5)) / calls * 1e6


def chosen_over_other(rows: int, depth: int, columns: int, dtype: type) -> tuple[float, bool]:
    """(time of the rule's layout / the other layout's, whether the rule swaps) for one shape."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((columns, depth)).astype(dtype)
    x, c = rng.standard_normal((rows, depth)).astype(dtype), rng.standard_normal((rows, columns)).astype(dtype)

    def as_written() -> np.ndarray:
        out = np.dot(x, weight.T)
        out += c
        return out

    def swapped() -> np.ndarray:
        return np.add(np.dot(weight, x.T).T, c, out=np.empty((rows, columns), dtype))

    calls = max(5, int(1e5 / (rows * depth * columns / 1000 + 50)))
    written, other = microseconds(as_written, calls), microseconds(swapped, calls)
    swaps = transposed_product_pays(x, weight.T)
    return (other / written if swaps else written / other), swaps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--smoke", action="store_true", help="a few shapes: checks that the script runs")
    args = parser.parse_args(argv)
    for line in harness.machine_lines(harness.limit_blas_threads()):
        print(line)
    dtype = np.dtype(args.dtype).type
    rows_grid, depths, columns_grid = ((2, 32), (64,), (128,)) if args.smoke else (ROWS, DEPTHS, COLUMNS)
    header = ["rows"] + [f"{depth}x{columns}" for depth in depths for columns in columns_grid]
    table, losses = [], 0
    for rows in rows_grid:
        cells = []
        for depth in depths:
            for columns in columns_grid:
                ratio, swaps = chosen_over_other(rows, depth, columns, dtype)
                losses += ratio > 1.05
                cells.append(f"{ratio:.2f}{'*' if swaps else ''}")
        table.append([str(rows)] + cells)
    print(f"{args.dtype} c + x @ W^T, x (rows, k), W^T (k, m): the chosen layout's time / the other's "
          "(* = computed as (W x^T)^T)")
    print(harness.format_table(header, table))
    print(f"shapes where the rule's choice is more than 5% slower than the other layout: {losses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
