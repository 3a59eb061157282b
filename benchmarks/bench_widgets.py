"""How long each widget takes to redraw after a control moves, from Python.

Every widget of :mod:`aecourse.widgets` at the size a chapter uses it, each
control changed as a learner changes it (a dropdown's value, a previous/next
button, a slider), timed from the change to the moment every output trait
(HTML, PNG bytes) holds the new drawing: the observers run synchronously, so
that is when the assignment returns. The browser adds the comm round trip
(about 50-100 ms more on the same machine; tests/test_browser.py writes those
times to ``artifacts/browser/keyboard-latency.json``).

- 02's activation table: a TopK SAE, 128 units on 28x28 digits, 300 inputs, top_k=8.
- 04's traversal: the chapter's VAE (8 latents, hidden 256) on 28x28, 40 inputs to
  start from, with ``morphometry.measure`` under the picture.
- 06's intervention explorer: the zoo's dSprites beta-TCVAE (10 latents, 32x32).

Models are untrained where the chapter trains them (the time to draw does not
depend on the weights); one torch thread, as a kernel on a busy laptop gets.

    python benchmarks/bench_widgets.py              # 30 repeats per control
    python benchmarks/bench_widgets.py --repeats 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from aecourse import morphometry, zoo
from aecourse.data import make_glyph_digits
from aecourse.sae import SparseAutoencoder
from aecourse.vae import VAE, VAEConfig
from aecourse.widgets import intervention_explorer, latent_traversal, sparse_activation_table


def _digits(n: int) -> torch.Tensor:
    return make_glyph_digits(n, seed=0).images


def timings(action, repeats: int) -> list[float]:
    """Seconds per call of ``action(k)`` for k = 0 .. repeats-1 (after one warm-up call)."""
    action(repeats)  # first draws build caches (matplotlib, torch kernels): not what a learner waits for twice
    out = []
    for k in range(repeats):
        start = time.perf_counter()
        action(k)
        out.append(time.perf_counter() - start)
    return out


def run(repeats: int = 30) -> list[tuple[str, str, list[float]]]:
    """(widget, control, seconds per redraw) for every control of every widget."""
    torch.manual_seed(0)
    rows = []
    images = _digits(300)
    sae = SparseAutoencoder(in_shape=(1, 28, 28), latent_dim=128, activation="topk", k=12)
    table = sparse_activation_table(sae, images, top_k=8)
    n_units = len(table.unit_selector.options)
    rows.append(("02 activation table", "input dropdown", timings(
        lambda k: setattr(table.input_selector, "value", (7 * k + 1) % len(images)), repeats)))
    rows.append(("02 activation table", "next input button", timings(lambda k: table.next_input_button.click(),
                                                                     repeats)))
    rows.append(("02 activation table", "unit dropdown", timings(
        lambda k: setattr(table.unit_selector, "value", (5 * k + 1) % n_units), repeats)))
    rows.append(("02 activation table", "next unit button", timings(lambda k: table.next_unit_button.click(),
                                                                    repeats)))

    vae = VAE(VAEConfig(in_shape=(1, 28, 28), latent_dim=8, hidden=(256,)))
    traversal = latent_traversal(vae, inputs=images[:40], measures=morphometry.measure)
    rows.append(("04 latent traversal", "slider", timings(
        lambda k: setattr(traversal.sliders[k % 8], "value", -2.0 + 0.1 * (k % 40)), repeats)))
    rows.append(("04 latent traversal", "next input button (8 sliders move, one decode)", timings(
        lambda k: traversal.next_input_button.click(), repeats)))
    rows.append(("04 latent traversal", "random button", timings(lambda k: traversal.random_button.click(),
                                                                  repeats)))

    explorer = intervention_explorer(zoo.load("dsprites_beta_tcvae"))
    rows.append(("06 intervention explorer", "value slider", timings(
        lambda k: setattr(explorer.slider, "value", -2.0 + 0.1 * (k % 40)), repeats)))
    rows.append(("06 intervention explorer", "next latent button", timings(
        lambda k: explorer.next_dim_button.click(), repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="redraws timed per control (default: 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = run(args.repeats)
    print(f"widget redraw latency, Python side ({args.repeats} repeats, {args.threads} torch thread(s)), ms")
    print(f"| {'widget':26s} | {'control':50s} | median | p90   | max   |")
    print(f"|{'-' * 28}|{'-' * 52}|--------|-------|-------|")
    for widget, control, seconds in rows:
        ms = sorted(1000 * s for s in seconds)
        p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
        print(f"| {widget:26s} | {control:50s} | {statistics.median(ms):6.1f} | {p90:5.1f} | {ms[-1]:5.1f} |")


if __name__ == "__main__":
    main()
