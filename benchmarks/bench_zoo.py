"""The model zoo: training time, size, scores, and MIG against training seconds.

By default this reads what ``aecourse zoo train`` recorded in the shipped
manifest (every dSprites model stores its MIG / FactorVAE curve, measured on
5,000 samples every ``--eval-every`` steps while training, 1,000 to 10,000 in the
shipped zoo; evaluation time excluded)
and draws the curve to ``benchmarks/results/zoo_mig_curve.png``.
``--retrain NAME`` trains that recipe again here and measures afresh
(minutes on a CPU).

    python benchmarks/bench_zoo.py
    python benchmarks/bench_zoo.py --retrain dsprites_beta_tcvae
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _plot(curves: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        if curve:
            seconds, _, mig, _ = zip(*curve)
            ax.plot(seconds, mig, "o-", label=name)
    ax.axhline(0.30, color="grey", linestyle=":", label="MIG 0.30")
    ax.set_xlabel("training seconds (CPU)"), ax.set_ylabel("MIG (5,000 samples)")
    ax.set_title("MIG during training, zoo dSprites models", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(retrain: list[str] | None = None) -> dict:
    from aecourse import zoo

    table = zoo.manifest()
    if retrain:
        for name in retrain:
            model, meta = zoo.train(name, eval_every=2000)
            table[name] = {**table.get(name, {}), "train_seconds": meta["train_seconds"], "curve": meta["curve"],
                           "metrics": zoo.evaluate_dsprites(model) if zoo.RECIPES[name].dataset == "dsprites" else {}}
    out: dict = {}
    curves = {}
    total = 0
    for name, entry in table.items():
        total += entry.get("bytes", 0)
        out[f"{name} training seconds"] = entry["train_seconds"]
        for key in ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "modularity"):
            if key in entry.get("metrics", {}):
                out[f"{name} {key}"] = round(entry["metrics"][key], 3)
        if entry.get("curve"):
            curves[name] = entry["curve"]
            out[f"{name} curve (s, step, MIG, FactorVAE)"] = [
                (round(s), step, round(m, 3), round(f, 3)) for s, step, m, f in entry["curve"]]
    out["zoo size MB"] = round(total / 1e6, 2)
    _plot(curves, RESULTS / "zoo_mig_curve.png")
    out["curve figure"] = str((RESULTS / "zoo_mig_curve.png").relative_to(HERE.parent))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retrain", nargs="*", metavar="NAME", help="retrain these zoo models and measure afresh")
    args = parser.parse_args(argv)
    for key, value in run(args.retrain).items():
        print(f"- {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
