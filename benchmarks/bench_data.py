"""How long does it take to make the course's datasets?

Run it directly for markdown table rows, or call ``run()`` for the numbers:

    python benchmarks/bench_data.py
    | glyphs_60k_s | 1.00 | make_glyph_digits(60_000), 2 torch threads, median of 3 |
    | dsprites_10k_s | 0.40 | make_dsprites(10_000) at 64x64, median of 3 |
    | dsprites_all_64_s | 21.0 | all 737,280 images at 64x64 through render_all(), once |
    | dsprites_all_32_s | 3.50 | all 737,280 images at 32x32 through render_all(), once |

- Glyph digits: an MNIST-sized training set. make_glyph_digits renders on one
  thread by design (robust on shared 2-core machines); the torch setting of 2
  threads is what the rest of a notebook uses.
- dSprites (issue 4: "the whole dataset in under 60 s"): a notebook-sized
  random subset, and the whole dataset at the original 64x64 and at the 32x32
  the zoo trains on. The whole dataset is consumed chunk by chunk and
  discarded, as ``render_all`` is meant to be used (all of it as uint8 is
  3 GB), so the peak memory is one chunk's.
"""

from __future__ import annotations

import statistics
import time

import torch

from aecourse.data import dsprites
from aecourse.data import make_glyph_digits

N_IMAGES = 60_000
N_DSPRITES = 10_000
THREADS = 2  # what CI and a typical laptop-class learner machine give us
REPEATS = 3


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _whole_dsprites_seconds(resolution: int) -> float:
    """Seconds to render every dSprites image once (checked: every index comes exactly once)."""
    start = time.perf_counter()
    seen = 0
    for index, images in dsprites.render_all(resolution=resolution):
        assert images.shape == (len(index), resolution, resolution) and index[0] == seen
        seen += len(index)
    seconds = time.perf_counter() - start
    assert seen == dsprites.N_IMAGES, seen
    return seconds


def run(repeats: int = REPEATS) -> dict:
    """Time glyph digits and dSprites with 2 torch threads; returns {name: seconds}."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        make_glyph_digits(1_000)  # warm-up: first-call allocations and thread-pool start
        dsprites.make_dsprites(1_000)
        return {
            "glyphs_60k_s": _median_seconds(lambda: make_glyph_digits(N_IMAGES, seed=0), repeats),
            "dsprites_10k_s": _median_seconds(lambda: dsprites.make_dsprites(N_DSPRITES, seed=0), repeats),
            "dsprites_all_64_s": _whole_dsprites_seconds(64),
            "dsprites_all_32_s": _whole_dsprites_seconds(32),
        }
    finally:
        torch.set_num_threads(previous)


WHAT = {
    "glyphs_60k_s": f"make_glyph_digits({N_IMAGES:_}), {THREADS} torch threads, median of {REPEATS}",
    "dsprites_10k_s": f"make_dsprites({N_DSPRITES:_}) at 64x64, median of {REPEATS}",
    "dsprites_all_64_s": f"all {dsprites.N_IMAGES:,} images at 64x64 through render_all(), once",
    "dsprites_all_32_s": f"all {dsprites.N_IMAGES:,} images at 32x32 through render_all(), once",
}


def main() -> None:
    for key, seconds in run().items():
        print(f"| {key} | {seconds:.2f} | {WHAT[key]} |")


if __name__ == "__main__":
    main()
