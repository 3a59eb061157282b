"""How long does it take to make 60,000 glyph digits (an MNIST-sized training set)?

Run it directly for a markdown table row, or call ``run()`` for the numbers:

    python benchmarks/bench_data.py
    | glyphs_60k_s | 1.00 | make_glyph_digits(60_000), 2 torch threads, median of 3 |

make_glyph_digits renders on one thread by design (robust on shared 2-core
machines); the torch setting of 2 threads is what the rest of a notebook uses.
"""

from __future__ import annotations

import statistics
import time

import torch

from aecourse.data import make_glyph_digits

N_IMAGES = 60_000
THREADS = 2  # what CI and a typical laptop-class learner machine give us
REPEATS = 3


def run(repeats: int = REPEATS) -> dict:
    """Time ``make_glyph_digits(60_000)`` with 2 torch threads; returns {"glyphs_60k_s": seconds}."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        make_glyph_digits(1_000)  # warm-up: first-call allocations and thread-pool start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            make_glyph_digits(N_IMAGES, seed=0)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return {"glyphs_60k_s": statistics.median(times)}


def main() -> None:
    result = run()
    print(f"| glyphs_60k_s | {result['glyphs_60k_s']:.2f} | make_glyph_digits(60_000), "
          f"{THREADS} torch threads, median of {REPEATS} |")


if __name__ == "__main__":
    main()
