"""The model zoo: shipped checkpoints, their hashes and quality, retraining, the CLI."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from aecourse import measure, morphometry, zoo
from aecourse.cli import main
from aecourse.checkpoints import CheckpointError
from aecourse.vae import VAE

TINY = zoo.Recipe("dsprites", "beta_tcvae", 6.0, steps=30, batch_size=64, resolution=16, hidden=(32,),
                  latent_dim=4, description="tiny test recipe")


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(zoo.RECIPES, "tiny", TINY)
    monkeypatch.setenv("AECOURSE_ZOO_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_every_recipe_has_a_verified_checkpoint_and_the_zoo_is_small():
    table = zoo.manifest()
    assert set(table) == set(zoo.available()) == set(zoo.RECIPES)
    assert zoo.verify() == {name: "ok" for name in zoo.RECIPES}
    total = sum((zoo.weights_dir() / e["file"]).stat().st_size for e in table.values())
    # 30 MB: twelve checkpoints (the MLP VAEs are 2.6 MB each in float16). The budget keeps the package, the Binder
    # image and the Gradescope autograder zip (which carries the zoo) small; it was 20 MB for eight checkpoints and
    # 24 MB for nine, before chapter 05's comparison at one shared budget added three (issue 21).
    assert total < 30e6, f"the zoo weighs {total / 1e6:.1f} MB; the budget is 30 MB"
    for name, entry in table.items():
        recipe = zoo.RECIPES[name]
        assert entry["recipe"]["objective"] == recipe.objective and entry["steps"] == recipe.steps, \
            f"{name}: the shipped checkpoint was not trained with the current recipe; run `aecourse zoo train {name}`"


@pytest.mark.parametrize("name", list(zoo.RECIPES))
def test_load_gives_an_eval_float_model_of_the_recipe(name):
    model = zoo.load(name)
    recipe = zoo.RECIPES[name]
    assert isinstance(model, VAE) and not model.training
    assert model.config.in_shape == recipe.in_shape and model.latent_dim == recipe.latent_dim
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_unknown_name_lists_the_zoo():
    with pytest.raises(zoo.ZooError, match="dsprites_beta_tcvae"):
        zoo.load("resnet50")


def test_damaged_or_missing_checkpoint_is_refused(monkeypatch, tmp_path):
    shutil.copytree(zoo.weights_dir(), tmp_path / "w")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "w")
    path = tmp_path / "w" / "dsprites_vae.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        zoo.load("dsprites_vae")
    (tmp_path / "w" / "dsprites_ae.pt").unlink()
    with pytest.raises(zoo.ZooError, match="aecourse zoo train dsprites_ae"):
        zoo.load("dsprites_ae")
    assert zoo.verify(tmp_path / "w")["dsprites_vae"] != "ok"
    assert zoo.verify(tmp_path / "w")["dsprites_beta_tcvae"] == "ok"


def test_training_is_reproducible(tiny):
    a, meta = zoo.train("tiny", progress=False)
    b, _ = zoo.train("tiny", progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert meta["steps"] == 30 and meta["train_seconds"] > 0 and "tc" in meta["history"]


def test_train_reports_progress_and_takes_a_seed(tiny):
    events = []
    a, meta = zoo.train("tiny", progress=False, eval_every=15, eval_samples=500, eval_factor_vae=False,
                        on_progress=events.append)
    assert [(e["step"], "loss" in e, "mig" in e) for e in events] == [(15, False, True), (30, True, True)]
    assert all(e["steps"] == 30 and e["factor_vae"] is None for e in events)
    assert 0 <= events[-1]["mig"] <= 1 and [c[1] for c in meta["curve"]] == [15, 30]
    assert meta["recipe"]["seed"] == 0
    b, meta_b = zoo.train("tiny", progress=False, seed=1)
    c, _ = zoo.train("tiny", progress=False, seed=1)
    assert meta_b["recipe"]["seed"] == 1
    first = {m: next(iter(m.state_dict().values())) for m in (a, b)}     # the same tensor of each model
    assert first[a].shape == first[b].shape and not torch.equal(first[a], first[b])  # another seed, other weights
    assert all(torch.equal(x, y) for x, y in zip(b.state_dict().values(), c.state_dict().values()))
    with pytest.raises(ValueError, match="seed must be"):
        zoo.train("tiny", progress=False, seed=-1)


@pytest.mark.parametrize("objective, extra", [("factor_vae", {}), ("annealed_vae", {"c_max": 5.0, "anneal_steps": 4})])
def test_objectives_with_state_train_through_the_zoo(objective, extra, monkeypatch):
    # FactorVAE's discriminator trains alongside the VAE but is not saved; the annealed capacity follows the steps.
    recipe = replace(TINY, objective=objective, beta=None, steps=6, **extra)
    monkeypatch.setitem(zoo.RECIPES, "tiny_state", recipe)
    made = []
    original = zoo.make_objective
    monkeypatch.setattr(zoo, "make_objective", lambda *a, **k: made.append(original(*a, **k)) or made[-1])
    model, meta = zoo.train("tiny_state", progress=False)
    loss_fn = made[0]
    if objective == "factor_vae":
        assert "disc_acc" in meta["history"] and loss_fn.gamma == 35.0
        assert all(p.grad is not None for p in loss_fn.parameters())
        assert not any("discriminator" in k for k in model.state_dict())
    else:
        assert loss_fn.steps_done == 6 and loss_fn.capacity() == 5.0 and loss_fn.gamma == 1000.0


def test_learning_rate_drops_once_after_lr_decay_step(monkeypatch):
    # After lr_decay_step steps the rate becomes lr * factor: with a vanishing factor, a 5-step run ends where
    # the 2-step run stopped (Adam's steps are about lr in size), and at factor 1 it is the constant-rate run.
    def run(steps, **decay):
        monkeypatch.setitem(zoo.RECIPES, "tiny_decay", replace(TINY, steps=steps, **decay))
        return zoo.train("tiny_decay", progress=False)[0].state_dict()

    two, five = run(2), run(5)
    frozen, same = run(5, lr_decay_step=2, lr_decay_factor=1e-12), run(5, lr_decay_step=2, lr_decay_factor=1.0)
    assert all(torch.allclose(frozen[k], two[k], rtol=0, atol=1e-9) for k in two)
    assert not all(torch.allclose(five[k], two[k], rtol=0, atol=1e-6) for k in two)
    assert all(torch.equal(same[k], five[k]) for k in five)
    # A recipe without a decay keeps its old manifest form; a decay shows in it.
    assert not {"lr_decay_step", "lr_decay_factor"} & set(TINY.as_dict())
    assert replace(TINY, lr_decay_step=2).as_dict()["lr_decay_step"] == 2
    with pytest.raises(ValueError, match="needs lr_decay_step"):
        replace(TINY, lr_decay_factor=0.5)
    with pytest.raises(ValueError, match="lr_decay_step must be >= 1"):
        replace(TINY, lr_decay_step=0)
    with pytest.raises(ValueError, match="lr_decay_factor must be > 0"):
        replace(TINY, lr_decay_step=2, lr_decay_factor=0.0)


def test_retrain_trains_once_then_uses_the_cache(tiny, monkeypatch):
    first = zoo.load("tiny", retrain=True, progress=False)
    assert (tiny / "cache" / "tiny.pt").is_file()
    monkeypatch.setattr(zoo, "train", lambda *a, **k: pytest.fail("retrained although the cache was valid"))
    again = zoo.load("tiny", retrain=True)
    x = torch.rand(3, 1, 16, 16)
    assert torch.equal(first.encode(x), again.encode(x))
    # a changed recipe invalidates the cache
    monkeypatch.setitem(zoo.RECIPES, "tiny", replace(TINY, steps=31))
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        zoo.load("tiny", retrain=True)


def test_build_scores_and_records_a_curve_and_the_cli_reads_it(tiny, capsys):
    out = tiny / "zoo"
    entries = zoo.build(["tiny"], directory=out, eval_every=15, progress=False, eval_samples=300)
    entry = entries["tiny"]
    assert [step for _, step, _, _ in entry["curve"]] == [15, 30]
    assert {"mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "modularity"} <= set(entry["metrics"])
    assert json.loads((out / "MANIFEST.json").read_text())["tiny"]["sha256"] == entry["sha256"]
    assert main(["zoo", "list", "tiny", "--out", str(out)]) == 0
    assert "mig=" in capsys.readouterr().out
    assert main(["zoo", "verify", "tiny", "--out", str(out)]) == 0
    (out / "tiny.pt").write_bytes(b"not a checkpoint")
    assert main(["zoo", "verify", "tiny", "--out", str(out)]) == 1
    assert main(["zoo", "train", "nope"]) == 2


def test_build_with_seeds_keeps_every_seeds_scores_and_one_checkpoint(tiny):
    out = tiny / "zoo"
    entry = zoo.build(["tiny"], directory=out, seeds=[2, 0], eval_every=30, progress=False, eval_samples=300)["tiny"]
    assert json.loads(json.dumps(entry)) == zoo.manifest(out)["tiny"]
    assert list(entry["seeds"]) == ["0", "2"] and sorted(p.name for p in out.glob("*.pt")) == ["tiny.pt"]
    assert entry["seeds"]["0"]["metrics"] == entry["metrics"]  # the recipe's seed is the shipped checkpoint
    assert [step for _, step, _, _ in entry["seeds"]["2"]["curve"]] == [30]
    scores = zoo.seed_scores("tiny", out)
    assert sorted(scores) == [0, 2] and scores[2] != scores[0]  # another seed: another model
    # seed 2's record is what a checkpoint of seed 2 would score (float16 weights, same evaluation)
    model, _ = zoo.train("tiny", seed=2, progress=False)
    again = zoo.evaluate_dsprites(model.half().float(), num_samples=300, only=("mig",))["mig"]
    assert again == pytest.approx(scores[2]["mig"], abs=1e-9)
    plain = zoo.build(["tiny"], directory=tiny / "plain", eval_every=None, progress=False, eval_samples=300)
    assert "seeds" not in plain["tiny"] and list(zoo.seed_scores("tiny", tiny / "plain")) == [0]
    with pytest.raises(ValueError, match="distinct seeds"):
        zoo.build(["tiny"], directory=out, seeds=[1, 1])
    # two worker processes train the same runs: the same checkpoint and the same scores, seed by seed
    # (in a fresh interpreter, as `aecourse zoo train --jobs` runs: an xdist worker's __main__ cannot be spawned from)
    script = ("import sys; from aecourse import zoo; from tests.test_zoo import TINY; zoo.RECIPES['tiny'] = TINY; "
              "zoo.build(['tiny'], directory=sys.argv[1], seeds=[2, 0], jobs=2, eval_every=30, progress=False, "
              "eval_samples=300)")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script, str(tiny / "parallel")], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])})
    both = zoo.manifest(tiny / "parallel")["tiny"]
    weights = [zoo._load_file(d, "tiny").state_dict() for d in (out, tiny / "parallel")]
    assert all(torch.equal(a, b) for a, b in zip(weights[0].values(), weights[1].values()))
    assert both["metrics"] == entry["metrics"]  # (the files differ: a checkpoint records its training seconds)
    assert {s: r["metrics"] for s, r in both["seeds"].items()} == {s: r["metrics"] for s, r in entry["seeds"].items()}


def test_build_pools_seeds_of_several_models_and_can_keep_a_checkpoint(tiny, monkeypatch):
    out = tiny / "zoo"
    serial = zoo.build(["tiny"], directory=out, seeds=[0, 1], eval_every=None, progress=False, eval_samples=300)
    sha = serial["tiny"]["sha256"]
    # keep_checkpoint: seed 0 is the stored checkpoint scored again (the same numbers), seed 3 is trained
    kept = zoo.build(["tiny"], directory=out, seeds=[0, 3], keep_checkpoint=True, eval_every=None, progress=False,
                     eval_samples=300)["tiny"]
    assert kept["sha256"] == sha and zoo.manifest(out)["tiny"]["sha256"] == sha
    assert kept["seeds"]["0"]["rescored"] is True and kept["seeds"]["0"]["metrics"] == serial["tiny"]["metrics"]
    assert "rescored" not in kept["seeds"]["3"] and kept["seeds"]["3"]["metrics"] != kept["metrics"]
    with pytest.raises(ValueError, match="keep_checkpoint"):
        zoo.build(["tiny"], directory=out, keep_checkpoint=True)
    # a changed recipe has no checkpoint to keep: it is trained
    monkeypatch.setitem(zoo.RECIPES, "tiny", replace(TINY, steps=31))
    changed = zoo.build(["tiny"], directory=out, seeds=[0], keep_checkpoint=True, eval_every=None, progress=False,
                        eval_samples=300)["tiny"]
    assert changed["sha256"] != sha and "rescored" not in changed["seeds"]["0"]
    # two models' seeds in one pool of two workers: the same runs as one model at a time
    script = ("import sys; from dataclasses import replace; from aecourse import zoo; from tests.test_zoo import TINY; "
              "zoo.RECIPES['tiny'] = TINY; zoo.RECIPES['tiny_vae'] = replace(TINY, objective='vae', beta=1.0); "
              "zoo.build(['tiny', 'tiny_vae'], directory=sys.argv[1], seeds=[0, 1], jobs=2, eval_every=None, "
              "progress=False, eval_samples=300)")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script, str(tiny / "pooled")], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])})
    pooled = zoo.manifest(tiny / "pooled")
    assert {s: r["metrics"] for s, r in pooled["tiny"]["seeds"].items()} == \
        {s: r["metrics"] for s, r in serial["tiny"]["seeds"].items()}
    monkeypatch.setitem(zoo.RECIPES, "tiny_vae", replace(TINY, objective="vae", beta=1.0))
    alone = zoo.build(["tiny_vae"], directory=tiny / "alone", seeds=[0, 1], eval_every=None, progress=False,
                      eval_samples=300)["tiny_vae"]
    assert {s: r["metrics"] for s, r in pooled["tiny_vae"]["seeds"].items()} == \
        {s: r["metrics"] for s, r in alone["seeds"].items()}


def test_cli_train_passes_seeds_and_prints_each(tiny, monkeypatch, capsys):
    seen = {}

    def fake_build(names, **kw):
        seen.update(kw)
        run = {"metrics": {"mig": 0.25, "factor_vae": 0.5}, "train_seconds": 3.0}
        return {"tiny": {"train_seconds": 3.0, "bytes": 1000, "metrics": {"mig": 0.25},
                         "seeds": {"0": run, "4": {**run, "metrics": {"mig": 0.125, "factor_vae": 0.5}}}}}

    monkeypatch.setattr(zoo, "build", fake_build)
    assert main(["zoo", "train", "tiny", "--seeds", "0", "4"]) == 0
    assert seen["seeds"] == [0, 4]
    printed = capsys.readouterr().out
    assert "seed 0: 3 s, MIG 0.250" in printed and "seed 4: 3 s, MIG 0.125" in printed


def test_rescore_reproduces_the_stored_scores_and_asks_only_for_what_it_needs(tiny):
    out = tiny / "zoo"
    entry = zoo.build(["tiny"], directory=out, eval_every=None, progress=False, eval_samples=300)["tiny"]
    changes = zoo.rescore(["tiny"], only=("mig", "sap", "explicitness"), directory=out, num_samples=300)
    assert set(changes["tiny"]) == {"mig", "sap", "explicitness"}
    for key, (old, new) in changes["tiny"].items():
        assert old == entry["metrics"][key] and new == pytest.approx(old, abs=1e-12), key
    # beta-VAE asked alone draws after the FactorVAE score, as in a full evaluation: the same number
    beta = zoo.rescore(["tiny"], only=("beta_vae",), directory=out, num_samples=300)["tiny"]["beta_vae"]
    assert beta[1] == pytest.approx(entry["metrics"]["beta_vae"], abs=1e-12)
    assert zoo.manifest(out)["tiny"]["sha256"] == entry["sha256"]
    with pytest.raises(ValueError, match="only must be names from"):
        zoo.rescore(["tiny"], only=("nope",), directory=out, num_samples=300)


@pytest.mark.slow
def test_best_dsprites_models_reach_the_quality_bars_and_their_scores_reproduce():
    table = zoo.manifest()
    scores = {n: table[n]["metrics"] for n in table if zoo.RECIPES[n].dataset == "dsprites"}
    best_mig = max(scores, key=lambda n: scores[n]["mig"])
    best_fv = max(scores, key=lambda n: scores[n]["factor_vae"])
    # Issue 4 asks for one model with MIG >= 0.30 and a FactorVAE score >= 0.75: FactorVAE, trained long with a
    # learning-rate cut (benchmarks/zoo_search.md: every configuration tried). Its vote table, read in chapter 05
    # and pinned below, says what these two numbers do and do not mean.
    both = scores["dsprites_factor_vae"]
    assert both["mig"] >= 0.30 and both["factor_vae"] >= 0.75, both
    assert scores[best_mig]["mig"] >= 0.30 and scores[best_fv]["factor_vae"] >= 0.75
    for name in {best_mig, best_fv}:
        live = zoo.evaluate_dsprites(zoo.load(name), full=False)
        assert abs(live["mig"] - scores[name]["mig"]) < 0.01, name  # same seed, same 10,000 samples
        assert abs(live["factor_vae"] - scores[name]["factor_vae"]) < 0.05, name  # fewer votes, same answer
    # the plain AE holds the information but is not disentangled
    ae = scores["dsprites_ae"]
    assert ae["mig"] < scores[best_mig]["mig"] and ae["explicitness"] > 0.7


def test_factor_vae_score_is_read_from_its_vote_table():
    """Chapter 05's reading of the FactorVAE score through its vote table (rows: fixed factor, columns: quietest latent).

    beta-TCVAE: three active latents (x, y, scale), so shape and orientation are outvoted: 3/5. FactorVAE: five
    active latents; x, y and scale own one each, and shape is split over two latents that also hold orientation.
    Fixing orientation quiets those two more often than fixing shape does, so the classifier gives both to
    orientation: orientation's row counts, shape's does not, and the score is 4/5 with shape scoring nothing.
    """
    from aecourse import measure as dis
    from aecourse.contracts import encoder_fn
    from aecourse.data.dsprites import DSpritesGroundTruth

    shape, scale, orientation, x, y = range(5)
    data = DSpritesGroundTruth(32)

    def votes(name):
        represent = encoder_fn(zoo.load(name))
        codes, factors = dis.sample_codes(data, represent, 3000, np.random.default_rng(0), batch_size=1000)
        m = dis.mig(codes, factors)
        fv = dis.factor_vae_score(data, represent, 0, num_train=2000, num_eval=1000, num_variance_estimate=5000)
        return fv, m["mutual_info"] / m["entropy"]  # (latent, factor): each factor's share of its entropy

    tc, _ = votes("dsprites_beta_tcvae")
    assert tc["num_active_dims"] == 3
    owners = tc["classifier"][tc["votes"].sum(axis=0) > 0]
    assert sorted(owners) == [scale, x, y]
    assert abs(tc["eval_accuracy"] - 3 / 5) < 0.03

    fv, share = votes("dsprites_factor_vae")
    table, owner = fv["votes"], fv["classifier"]
    rate = table / table.sum(axis=1, keepdims=True)
    assert fv["num_active_dims"] == 5
    for factor in (scale, x, y):  # one latent each, which wins the factor's row outright
        latent = int(table[factor].argmax())
        assert owner[latent] == factor and rate[factor, latent] > 0.9 and share[latent].argmax() == factor
    pair = np.argsort(-share[:, shape])[:2]  # shape's two latents: equal shares, so MIG's gap for shape is ~0
    assert share[pair, shape].min() > 0.12 and np.ptp(share[pair, shape]) < 0.05
    assert (share[pair, orientation] > 0.05).all() and (owner[pair] == orientation).all()
    assert rate[shape, pair].sum() > 0.5 and rate[orientation, pair].sum() > 0.9
    voted = table.sum(axis=0) > 0  # pruned latents get no votes (their argmax owner means nothing)
    assert not (owner[voted] == shape).any()  # no latent is shape's: its row scores nothing
    assert abs(fv["eval_accuracy"] - 0.8) < 0.04


@pytest.mark.slow
def test_glyph_model_has_a_thickness_latent_and_a_slant_latent():
    """Chapter 04's claim: one latent changes thickness monotonically, another slant, each leaving the other alone.

    "Alone" is measured against the data: a side effect must stay under 25% of the spread
    (5th-95th percentile) of that measure over glyph digits.
    """
    from aecourse.data import make_glyph_digits

    model = zoo.load("glyphs_beta_tcvae")
    data = morphometry.measure(make_glyph_digits(500, seed=3).images)
    spread = {k: float(np.subtract(*np.nanpercentile(data[k], [95, 5]))) for k in ("thickness", "slant")}
    with torch.no_grad():
        bases = model.encode(make_glyph_digits(16, seed=7).images)
    values = np.linspace(-2, 2, 11)
    rows = []
    for d in range(model.latent_dim):
        c = morphometry.traversal_measures(model, bases, d, values)
        rows.append({f"rho_{k}": morphometry.monotonicity(values, c[k]) for k in c} |
                    {f"range_{k}": float(np.ptp(c[k])) for k in c})
    found = {}
    for own in ("thickness", "slant"):
        monotone = [d for d, r in enumerate(rows) if abs(r[f"rho_{own}"]) >= 0.9]
        assert monotone, f"no latent changes {own} monotonically: {rows}"
        found[own] = max(monotone, key=lambda d: rows[d][f"range_{own}"])
    assert found["thickness"] != found["slant"]
    t, s = rows[found["thickness"]], rows[found["slant"]]
    assert t["range_thickness"] >= 0.25 * spread["thickness"], (t, spread)   # a real effect
    assert s["range_slant"] >= 0.5 * spread["slant"], (s, spread)
    assert t["range_slant"] <= 0.25 * spread["slant"], (t, spread)           # the other measure changes little
    assert s["range_thickness"] <= 0.25 * spread["thickness"], (s, spread)


@pytest.mark.slow
def test_the_comparison_shares_one_budget_and_records_five_seeds_of_every_objective():
    # Issue 21 item 4: the same steps, batch and data for every objective in chapter 05's table, at least 5 seeds
    # each by `aecourse zoo train`, every seed's scores in the manifest and one checkpoint per objective.
    budget = ("dataset", "resolution", "train_size", "hidden", "latent_dim", "encoder", "decoder", "batch_size", "lr",
              "steps", "lr_decay_step")
    recipes = [zoo.RECIPES[name] for name in zoo.COMPARISON]
    assert len({tuple(getattr(r, f) for f in budget) for r in recipes}) == 1, [r.as_dict() for r in recipes]
    assert [r.objective for r in recipes] == ["ae", "vae", "beta_vae", "beta_tcvae", "factor_vae"]
    table = zoo.manifest()
    for name, recipe in zip(zoo.COMPARISON, recipes):
        seeds = zoo.seed_scores(name)
        assert len(seeds) >= 5 and all(set(zoo.EVALUATED) <= set(run) for run in seeds.values()), name
        assert table[name]["metrics"] == seeds[recipe.seed], name  # the shipped checkpoint is the recipe's seed
        assert len({run["mig"] for run in seeds.values()}) == len(seeds), name  # other seeds, other models


def test_chapter_05s_claims_about_the_comparison_hold_on_the_recorded_seeds():
    # Chapter 05's "Reading the table honestly" claims only what the five seeds' intervals support; this pins each
    # claim to the manifest, so retraining a model that changes one fails here until the text is rewritten.
    label = dict(zip(zoo.COMPARISON, ["AE", "VAE", "β-VAE", "β-TCVAE", "FactorVAE"]))
    values = {metric: {label[name]: [run[metric] for run in zoo.seed_scores(name).values()] for name in zoo.COMPARISON}
              for metric in ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "explicitness")}
    ci = {m: {k: measure.bootstrap_interval(v) for k, v in by.items()} for m, by in values.items()}
    first = {m: measure.rank_first_frequency(by) for m, by in values.items()}

    def above(metric, a, b):  # a's interval lies wholly above b's
        return ci[metric][a]["low"] > ci[metric][b]["high"]

    for metric in ("mig", "dci_disentanglement", "dci_completeness"):
        assert above(metric, "β-VAE", "AE") and above(metric, "β-TCVAE", "AE"), metric
    assert above("mig", "β-VAE", "VAE") and above("mig", "β-TCVAE", "VAE")
    assert not above("mig", "β-VAE", "β-TCVAE") and not above("mig", "β-TCVAE", "β-VAE")  # cannot be told apart
    assert round(ci["mig"]["β-VAE"]["mean"], 2) == round(ci["mig"]["β-TCVAE"]["mean"], 2) == 0.14
    assert max(first["mig"], key=first["mig"].get) == "β-TCVAE" and first["mig"]["β-TCVAE"] < 0.65
    assert max(first["factor_vae"], key=first["factor_vae"].get) == "FactorVAE" and first["factor_vae"]["FactorVAE"] > 0.8
    assert [other for other in label.values() if other != "FactorVAE" and above("factor_vae", "FactorVAE", other)] == ["AE"]
    assert above("mig", "β-VAE", "FactorVAE") and above("dci_disentanglement", "β-VAE", "FactorVAE")
    means = sorted(ci["mig"], key=lambda k: -ci["mig"][k]["mean"])
    assert means.index("FactorVAE") == 2  # "third on MIG, behind β-TCVAE and β-VAE"
    assert max(ci["explicitness"], key=lambda k: ci["explicitness"][k]["mean"]) == "AE"
    assert min(values["mig"]["β-TCVAE"]) < 0.03 and max(values["mig"]["β-TCVAE"]) > 0.2  # one seed is not a result
    assert zoo.seed_scores("dsprites_beta_tcvae_6k")[0]["mig"] > ci["mig"]["β-TCVAE"]["high"]  # seed 0 outside the mean's
    long_budget = [zoo.manifest()[name]["metrics"] for name in ("dsprites_beta_tcvae", "dsprites_factor_vae")]
    assert all(m["mig"] > 0.3 for m in long_budget) and long_budget[1]["factor_vae"] > 0.75


def test_train_it_yourself_model_passes_the_bar_on_its_recorded_seeds_and_reproduces():
    # Issue 21 item 5: MIG >= 0.30 (10,000 samples), median of the seeds; the seconds are measured by
    # benchmarks/bench_train_yourself.py, not here. Every seed's scores are kept, the checkpoint is the recipe's seed.
    seeds = zoo.seed_scores("dsprites_ada_gvae")
    assert sorted(seeds) == [0, 1, 2, 3, 4]
    assert np.median([s["mig"] for s in seeds.values()]) >= 0.30, seeds
    entry = zoo.manifest()["dsprites_ada_gvae"]
    assert entry["metrics"] == seeds[zoo.RECIPES["dsprites_ada_gvae"].seed] and len(entry["loss"]) == 30
    live = zoo.evaluate_dsprites(zoo.load("dsprites_ada_gvae"), full=False, factor_vae=False)
    assert abs(live["mig"] - entry["metrics"]["mig"]) < 1e-9  # same seed, same 10,000 samples, same weights
