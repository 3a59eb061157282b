"""The model zoo: small pretrained VAEs, so CPU learners need not wait for training.

Every checkpoint here is made by :func:`train` from a :class:`Recipe` in
:data:`RECIPES` (``aecourse zoo train`` runs it), and is listed in
``zoo_weights/MANIFEST.json`` with the file's sha256, the training time and
the metrics it reached. Chapters call :func:`load`, which verifies the
hash before handing the model over; ``load(name, retrain=True)`` trains the
same recipe from scratch instead (same seed, same numbers on the same
machine and torch version).

===========================  ==========================================
name                         what it is
===========================  ==========================================
``dsprites_ae``              deterministic AE (the VAE's architecture, no KL)
``dsprites_vae``             VAE, beta = 1
``dsprites_beta_vae``        beta-VAE
``dsprites_beta_tcvae``      beta-TCVAE (total correlation weighted by beta)
``dsprites_factor_vae``      FactorVAE, trained long (210,000 steps)
``dsprites_ada_gvae``        Ada-GVAE, weakly supervised (chapter 05's
                             train-it-yourself model)
``dsprites_*_6k``            the AE, beta-TCVAE and FactorVAE at chapter 05's
                             shared budget (:data:`COMPARISON`)
``glyphs_beta_tcvae``        chapter 04's glyph-digit model (thickness, slant)
``dsprites_where``           beta-TCVAE whose decoder acts through one learned
                             spatial mask per latent (chapter 07: "where")
``dsprites_where_what``      the same plus the perturbation-simplicity loss
                             (chapter 07: "what")
===========================  ==========================================

The dSprites models see 32x32 renderings (four times cheaper than 64x64 and
half a pixel per position step: dSprites' 32 positions span 32 of the original 64
pixels, about one pixel per step there, so 16 of 32 pixels here): evaluate them with
``DSpritesGroundTruth(resolution=32)``. Weights are stored in float16 to keep
the whole zoo small; they are loaded into a float32 model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .contracts import check_int, encoder_fn, invalid
from .progress import progress_bar
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .objectives import PAIRED_OBJECTIVES, make_objective
from .train import TrainingThreads, default_device, seed_everything
from .vae import VAE, VAEConfig
from .weak import sample_pairs

__all__ = ["Recipe", "RECIPES", "available", "load", "train", "evaluate_dsprites", "EVALUATED", "rescore", "verify",
           "manifest", "weights_dir", "cache_dir", "ZooError"]

WEIGHTS_DIR = Path(__file__).with_name("zoo_weights")
MANIFEST_NAME = "MANIFEST.json"


class ZooError(LookupError):
    """An unknown zoo model, or one whose checkpoint is missing."""


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is trained (everything :func:`train` needs).

    Parameters
    ----------
    dataset : "dsprites" or "glyphs"
        dSprites images are drawn afresh every step (uniform over all
        737,280 factor combinations, as disentanglement_lib samples);
        glyph digits come from a fixed set of ``train_size`` images.
    objective : "ae", "vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "beta_tcvae_ps" or "ada_gvae"
        See :mod:`aecourse.vae` (:data:`~aecourse.objectives.OBJECTIVES`).
        ``"ada_gvae"`` is weakly supervised (:mod:`aecourse.weak`): it trains
        on pairs of dSprites images that share some factors, so each step
        draws ``batch_size`` pairs (twice as many images).
    beta : float or None
        The objective's beta (None: its default); for ``"annealed_vae"``
        and ``"factor_vae"`` their ``gamma``.
    steps, batch_size, lr, seed : training budget (Adam), fully seeded.
    lr_decay_step, lr_decay_factor : int or None, float
        After ``lr_decay_step`` steps the learning rate drops once to
        ``lr * lr_decay_factor`` (None: a constant rate).
    resolution : int
        dSprites image side (ignored for glyphs, which are 28x28).
    latent_dim, hidden, encoder, decoder : the :class:`~aecourse.vae.VAEConfig`.
    ps_weight, ps_batch : float, int or None
        Weight of the perturbation-simplicity term and the number of prior
        codes it perturbs per step (None: the batch size); objective
        ``"beta_tcvae_ps"`` only.
    mask_weight : float
        Weight of a mask-area penalty (:class:`~aecourse.wherewhat.MaskAreaPenalty`),
        ``decoder="masked"`` only; 0 (off) in the shipped recipes.

    alpha, gamma : float
        beta-TCVAE's weights on the index-code mutual information and the
        dimension-wise KL (:func:`~aecourse.vae.beta_tcvae_loss`; 1 and 1
        in the paper).
    c_max, anneal_steps : float, int
        The capacity schedule of objective ``"annealed_vae"``
        (:class:`~aecourse.vae.AnnealedCapacityLoss`, whose ``gamma`` is the
        recipe's ``beta``).

    Fields added after the first zoo (``encoder``, ``decoder``, ``ps_weight``, ``ps_batch``, ``mask_weight``,
    ``alpha``, ``gamma``, ``c_max``, ``anneal_steps``, ``lr_decay_step``, ``lr_decay_factor``)
    appear in :meth:`as_dict` only when they differ from their defaults, so
    the manifests and retrain caches of the older recipes stay valid.
    """

    dataset: str
    objective: str
    beta: float | None = None
    steps: int = 12000
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    resolution: int = 32
    latent_dim: int = 10
    hidden: tuple[int, ...] = (512, 256)
    train_size: int = 60000
    description: str = ""
    encoder: str = "mlp"
    decoder: str = "mlp"
    ps_weight: float = 0.0
    ps_batch: int | None = None
    mask_weight: float = 0.0
    alpha: float = 1.0
    gamma: float = 1.0
    c_max: float = 25.0
    anneal_steps: int = 100000
    lr_decay_step: int | None = None
    lr_decay_factor: float = 0.1

    def _changed(self, *names: str) -> bool:
        """Whether any of these later-added fields differs from its default."""
        return any(getattr(self, n) != _LATER_FIELDS[n] for n in names)

    def __post_init__(self):
        if self.objective in PAIRED_OBJECTIVES and self.dataset != "dsprites":
            raise ValueError(f"objective {self.objective!r} trains on pairs that share known factors; only the "
                             f"'dsprites' dataset has factors to draw them from, got dataset {self.dataset!r}")
        if self._changed("ps_weight", "ps_batch") and self.objective != "beta_tcvae_ps":
            raise ValueError(f"ps_weight and ps_batch have no effect with objective {self.objective!r}; "
                             "use objective='beta_tcvae_ps' or leave them at their defaults")
        if self._changed("alpha", "gamma") and not self.objective.startswith("beta_tcvae"):
            raise ValueError(f"alpha and gamma weight beta-TCVAE's terms; objective {self.objective!r} has none")
        if self._changed("c_max", "anneal_steps") and self.objective != "annealed_vae":
            raise ValueError(f"c_max and anneal_steps set the capacity schedule of objective 'annealed_vae'; "
                             f"objective {self.objective!r} has none")
        if self._changed("lr_decay_factor") and self.lr_decay_step is None:
            raise ValueError(f"lr_decay_factor={self.lr_decay_factor} needs lr_decay_step (the step after which "
                             "the learning rate drops)")
        if self.lr_decay_step is not None and self.lr_decay_step < 1:
            raise ValueError(f"lr_decay_step must be >= 1 (or None for a constant rate), got {self.lr_decay_step}")
        if not self.lr_decay_factor > 0:
            raise ValueError(f"lr_decay_factor must be > 0, got {self.lr_decay_factor}")
        if self._changed("mask_weight") and self.decoder != "masked":
            raise ValueError(f"mask_weight={self.mask_weight} needs decoder='masked' (only it has masks)")

    def as_dict(self) -> dict:
        """Plain JSON-able fields (what manifests and checkpoints store)."""
        out = {**asdict(self), "hidden": list(self.hidden)}
        for name, default in _LATER_FIELDS.items():
            if out[name] == default:
                del out[name]
        return out

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (1, 28, 28) if self.dataset == "glyphs" else (1, self.resolution, self.resolution)

    @property
    def dataset_size(self) -> int:
        from .data.dsprites import N_IMAGES

        return self.train_size if self.dataset == "glyphs" else N_IMAGES


#: Recipe fields added after models were shipped, with their defaults (left out of as_dict when at the default).
_LATER_FIELDS = {"encoder": "mlp", "decoder": "mlp", "ps_weight": 0.0, "ps_batch": None, "mask_weight": 0.0,
                 "alpha": 1.0, "gamma": 1.0, "c_max": 25.0, "anneal_steps": 100000,
                 "lr_decay_step": None, "lr_decay_factor": 0.1}

RECIPES: dict[str, Recipe] = {
    "dsprites_ae": Recipe("dsprites", "ae", steps=10000,
                          description="deterministic autoencoder, same network as the VAEs"),
    "dsprites_vae": Recipe("dsprites", "vae", 1.0, steps=6000, description="VAE (beta = 1)"),
    "dsprites_beta_vae": Recipe("dsprites", "beta_vae", 4.0, steps=6000,
                                description="beta-VAE (Higgins et al. 2017)"),
    "dsprites_beta_tcvae": Recipe("dsprites", "beta_tcvae", 6.0, steps=16000,
                                  description="beta-TCVAE (Chen et al. 2018), minibatch-weighted sampling"),
    "glyphs_beta_tcvae": Recipe("glyphs", "beta_tcvae", 6.0, latent_dim=8, steps=8000,
                                description="chapter 04: glyph digits, latents for thickness and slant"),
    # Kim & Mnih's gamma 35 and batch 64, with lr 3e-4 (theirs is 1e-4, which had MIG 0.25 after 200,000 steps).
    # By 140,000 steps shape is split over two latents, so shape adds nothing to MIG; x, y and scale keep
    # sharpening, and a tenfold learning-rate cut at 200,000 steps settles them: after 10,000 more steps MIG 0.31
    # and FactorVAE 0.80, both bars in one model (benchmarks/zoo_search.md, sessions 7-9: every variant tried).
    "dsprites_factor_vae": Recipe("dsprites", "factor_vae", 35.0, steps=210000, batch_size=64, lr=3e-4,
                                  lr_decay_step=200000, lr_decay_factor=0.1,
                                  description="FactorVAE (Kim & Mnih 2018), discriminator-estimated total correlation"),
    # Chapter 05's comparison at one shared budget: the VAE and beta-VAE recipes' own (MLP, batch 256, Adam 1e-3,
    # 6,000 steps), five seeds each (`aecourse zoo train ... --seeds 0 1 2 3 4`). The AE, beta-TCVAE and FactorVAE
    # rows above train longer (other chapters load them), so they get a shared-budget twin here; FactorVAE keeps
    # its paper's gamma 35 but not its batch 64 and lr 1e-4, which are budget choices the twin shares with the rest.
    "dsprites_ae_6k": Recipe("dsprites", "ae", steps=6000,
                             description="deterministic autoencoder at chapter 05's shared budget (6,000 steps)"),
    "dsprites_beta_tcvae_6k": Recipe("dsprites", "beta_tcvae", 6.0, steps=6000,
                                     description="beta-TCVAE at chapter 05's shared budget (6,000 steps)"),
    "dsprites_factor_vae_6k": Recipe("dsprites", "factor_vae", 35.0, steps=6000,
                                     description="FactorVAE (gamma 35) at chapter 05's shared budget (6,000 steps)"),
    # Chapter 05's train-it-yourself model: weakly supervised, so unlike the unsupervised rows above it sees
    # pairs of sprites that share some factors. batch_size counts pairs (256 images a step, as the others).
    "dsprites_ada_gvae": Recipe("dsprites", "ada_gvae", 4.0, steps=3000, batch_size=128,
                                description="Ada-GVAE (Locatello et al. 2020), weakly supervised: trained on pairs "
                                            "that share some factors; chapter 05's train-it-yourself model"),
    "dsprites_where": Recipe("dsprites", "beta_tcvae", 6.0, steps=16000, decoder="masked",
                             description="chapter 07: beta-TCVAE, each latent acts through a learned spatial mask"),
    # ps_weight 10, from 1,500-step trials: at 1 the recogniser stalls at accuracy 0.5 (it tells apart only the
    # few latents in use) and the term stops shaping the decoder; at 3 it reaches 0.70, at 10 0.85, with the
    # weighted term 12-18% of recon + KL. ps_batch 64 keeps a step at ~0.12 s on one thread (256: ~0.25 s).
    "dsprites_where_what": Recipe("dsprites", "beta_tcvae_ps", 6.0, steps=16000, decoder="masked",
                                  ps_weight=10.0, ps_batch=64,
                                  description="chapter 07: masked beta-TCVAE plus perturbation simplicity"),
}


#: Chapter 05's comparison, in its table's order: every unsupervised objective trained at one shared budget (the
#: same network, data, batch, learning rate and steps; only the objective and its weight differ), five seeds each.
COMPARISON = ("dsprites_ae_6k", "dsprites_vae", "dsprites_beta_vae", "dsprites_beta_tcvae_6k", "dsprites_factor_vae_6k")


def available() -> list[str]:
    """Names of the zoo models (see :data:`RECIPES`)."""
    return list(RECIPES)


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ZooError(f"unknown zoo model {name!r}; available: {', '.join(RECIPES)}")
    return RECIPES[name]


def weights_dir() -> Path:
    """Where the shipped checkpoints live (inside the installed package)."""
    return WEIGHTS_DIR


def cache_dir() -> Path:
    """Where retrained models go: ``$AECOURSE_ZOO_DIR`` or ``~/.cache/aecourse/zoo``."""
    return Path(os.environ.get("AECOURSE_ZOO_DIR") or Path.home() / ".cache" / "aecourse" / "zoo")


def manifest(directory: str | Path | None = None) -> dict:
    """The manifest of a zoo directory: ``{name: {file, sha256, train_seconds, metrics, ...}}``."""
    path = Path(directory or WEIGHTS_DIR) / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); restore it from the repository") from None


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- data streams
def _batches(recipe: Recipe, generator: np.random.Generator):
    """Yield float32 training batches ``(batch_size, *in_shape)`` forever (pairs: ``(batch_size, 2, *in_shape)``)."""
    if recipe.dataset == "dsprites":
        from .data.dsprites import DSpritesGroundTruth

        data = DSpritesGroundTruth(recipe.resolution)
        while True:
            if recipe.objective in PAIRED_OBJECTIVES:
                yield torch.from_numpy(sample_pairs(data, recipe.batch_size, generator))
                continue
            _, x = data.sample(recipe.batch_size, generator)
            yield torch.from_numpy(x)
    elif recipe.dataset == "glyphs":
        from .data import make_glyph_digits

        images = make_glyph_digits(recipe.train_size, seed=recipe.seed).images
        while True:
            order = torch.from_numpy(generator.permutation(len(images)))
            for i in range(0, len(images) - recipe.batch_size + 1, recipe.batch_size):
                yield images[order[i:i + recipe.batch_size]]
    else:
        raise ValueError(f"unknown dataset {recipe.dataset!r} in recipe; expected 'dsprites' or 'glyphs'")


def _prefetched(batches, depth: int = 2):
    """The same batches, drawn ``depth`` ahead on a helper thread while the model trains.

    Why: drawing a dSprites batch is numpy work (about a third of a step's
    time for the pair objective's 256 images) that does not need the
    model, and numpy and torch both release the GIL in their heavy loops, so
    on a machine with a core to spare the drawing overlaps the training step
    instead of adding to it. One thread draws them in order from the one
    generator, so the batches and every trained weight are exactly those
    of drawing in the training loop. An error while drawing is raised in the
    training loop; closing the generator stops the thread.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def draw():
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slots.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the training loop, which raises it
            slots.put((None, exc))

    worker = threading.Thread(target=draw, name="aecourse-batches", daemon=True)
    worker.start()
    try:
        while True:
            batch, error = slots.get()
            if error is not None:
                raise error
            yield batch
    finally:
        stop.set()


def evaluate_dsprites(model: VAE, *, resolution: int | None = None, num_samples: int = 10000, seed: int = 0,
                      full: bool = True, only: tuple[str, ...] | None = None,
                      factor_vae: bool = True) -> dict[str, float]:
    """Supervised disentanglement scores of a dSprites model (disentanglement_lib-style).

    MIG, DCI, SAP and modularity/explicitness use ``num_samples`` random
    observations (10,000 train; DCI, SAP and explicitness also draw 5,000
    test points as in disentanglement_lib); FactorVAE and beta-VAE scores
    use their library defaults (10,000 / 5,000 votes; 10,000 / 5,000 points).
    ``full=False`` computes MIG and the FactorVAE score only, on fewer samples
    (for training curves); ``factor_vae=False`` leaves the latter out too.

    ``only`` (with ``full=True``) names the scores to return. Every score is
    computed from the same random stream whatever is asked: the metrics that
    draw from it before an asked one (FactorVAE before beta-VAE, both before
    DCI) still run, so a score asked alone equals the one a full evaluation
    gives; DCI's slow trees are skipped unless a DCI score is asked.
    """
    from . import measure
    from .data.dsprites import DSpritesGroundTruth

    model = model.cpu().eval()
    data = DSpritesGroundTruth(resolution or model.config.in_shape[-1])
    represent = encoder_fn(model)
    rng = np.random.default_rng(seed)
    codes, factors = measure.sample_codes(data, represent, num_samples, rng, batch_size=1000)
    out = {"mig": measure.mig(codes, factors)["mig"]}
    if not full:
        if not factor_vae:
            return out
        out["factor_vae"] = measure.factor_vae_score(data, represent, rng, num_train=2000, num_eval=1000,
                                                     num_variance_estimate=5000)["eval_accuracy"]
        return out
    # Defaults are disentanglement_lib's at num_samples=10,000; smaller samples scale every count down.
    frac = num_samples / 10000
    n = lambda count: max(50, int(count * frac))  # noqa: E731
    codes_test, factors_test = measure.sample_codes(data, represent, n(5000), rng, batch_size=1000)
    wanted = set(EVALUATED if only is None else only)
    unknown = wanted - set(EVALUATED)
    if unknown:
        raise invalid("only", f"names from {list(EVALUATED)}", sorted(unknown))
    dci_wanted = bool(wanted & {"dci_disentanglement", "dci_completeness", "dci_informativeness"})
    if wanted & {"factor_vae", "beta_vae"} or dci_wanted:
        out["factor_vae"] = measure.factor_vae_score(data, represent, rng, num_train=n(10000), num_eval=n(5000),
                                                     num_variance_estimate=n(10000))["eval_accuracy"]
    if "beta_vae" in wanted or dci_wanted:
        out["beta_vae"] = measure.beta_vae_score(data, represent, rng, num_train=n(10000),
                                                 num_eval=n(5000))["eval_accuracy"]
    if dci_wanted:
        # The trees' own seed comes from the evaluation's seed (without one, DCI moved by about 0.001 from run to run).
        d = measure.dci(codes, factors, codes_test, factors_test, rng=seed)
        out.update(dci_disentanglement=d["disentanglement"], dci_completeness=d["completeness"],
                   dci_informativeness=d["informativeness_test"])
    out["sap"] = measure.sap(codes, factors, codes_test, factors_test)["sap"]
    m = measure.modularity_explicitness(codes, factors, codes_test, factors_test)
    out.update(modularity=m["modularity"], explicitness=m["explicitness_test"])
    return {k: float(v) for k, v in out.items() if k in wanted}


#: The scores :func:`evaluate_dsprites` returns (``full=True``), as stored in the manifest.
EVALUATED = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness",
             "sap", "modularity", "explicitness")


def rescore(names: list[str] | None = None, *, only: tuple[str, ...] | None = None,
            directory: str | Path | None = None,
            num_samples: int = 10000) -> dict[str, dict[str, tuple[float | None, float]]]:
    """Re-evaluate stored dSprites models (no training) and update their manifest scores.

    For when a metric's default changes: each model's stored (float16) weights
    are scored again by :func:`evaluate_dsprites` (same seed, same samples;
    ``num_samples`` as :func:`build`'s ``eval_samples``),
    ``only`` the named scores (all by default), and those scores are replaced
    in ``MANIFEST.json``; the checkpoints, hashes and training records stay.
    Returns ``{name: {score: (old, new)}}``.
    """
    directory = Path(directory or WEIGHTS_DIR)
    table = manifest(directory)
    changes = {}
    for name in names or [n for n in table if n in RECIPES and RECIPES[n].dataset == "dsprites"]:
        new = evaluate_dsprites(_load_file(directory, name), only=only, num_samples=num_samples)
        old = table[name].get("metrics", {})
        changes[name] = {key: (old.get(key), value) for key, value in new.items()}
        table[name]["metrics"] = {**old, **new}
        (directory / MANIFEST_NAME).write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return changes


# --------------------------------------------------------------------------- training
def train(name: str, *, steps: int | None = None, progress: bool = True, eval_every: int | None = None,
          threads: int | None = 1, seed: int | None = None, eval_samples: int = 5000,
          eval_factor_vae: bool = True, on_progress: Callable[[dict], None] | None = None,
          device: str | torch.device | None = None) -> tuple[VAE, dict]:
    """Train zoo model ``name`` from its recipe; return ``(model, meta)`` (the model on the CPU).

    Parameters
    ----------
    steps : int, optional
        Override the recipe's number of optimiser steps (e.g. for a quick try).
    eval_every : int, optional
        For dSprites models, compute MIG and the FactorVAE score every this
        many steps and record ``meta["curve"]`` as ``[(seconds, step, mig,
        factor_vae), ...]``; evaluation time is not counted in ``seconds``.
    threads : int or None
        torch CPU threads while training (restored afterwards). The default,
        one, is how the shipped checkpoints were trained: a retrain repeats
        them bit for bit, and one thread does not slow down on a busy machine.
        None follows the machine's load (:class:`aecourse.train.TrainingThreads`:
        faster when idle, but the bits may change with the thread count, so
        two runs need not agree). ``meta["threads"]`` records the count, or
        the counts in turn.
    seed : int, optional
        Override the recipe's seed (weights, data stream); ``meta["recipe"]``
        records the one used.
    eval_samples : int
        Observations for the curve's MIG (5,000; the FactorVAE score of the
        curve uses 2,000 / 1,000 votes).
    eval_factor_vae : bool
        Whether the curve also scores FactorVAE (False: ``None`` in the
        curve; a quicker curve, e.g. to watch live).
    on_progress : callable, optional
        Called as ``on_progress(event)`` every 100 steps with ``{"step",
        "steps", "seconds", "loss"}`` (the mean loss of those steps) and after
        each evaluation with ``"mig"`` and ``"factor_vae"`` added: what a live
        figure draws (:class:`aecourse.viz.LiveTrainingFigure`).
    device : str or torch.device, optional
        Where to train (None: the CPU, where the zoo's models were trained;
        ``"cuda"`` for a GPU, e.g. ``benchmarks/bench_train_yourself.py
        --device cuda``). Another device draws other random numbers, so its
        weights differ from a CPU run's; the batches are the same.

    ``meta`` holds the recipe, steps, training seconds, loss history every
    100 steps, and the torch version.

    An objective with weights of its own (``"beta_tcvae_ps"``'s perturbation
    recogniser) is optimised together with the VAE but is neither returned
    nor saved: it only shapes training, and the zoo model is the VAE.
    """
    recipe = _recipe(name)
    if seed is not None:
        recipe = replace(recipe, seed=check_int("seed", seed, low=0))
    steps = recipe.steps if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    with TrainingThreads(threads) as pool:
        seed_everything(recipe.seed)
        generator = np.random.default_rng(recipe.seed)
        dev = default_device(str(device)) if device is not None else torch.device("cpu")
        model = _untrained_model(recipe).to(dev)
        loss_fn = make_objective(recipe.objective, beta=recipe.beta, dataset_size=recipe.dataset_size,
                                 latent_dim=recipe.latent_dim, image_shape=recipe.in_shape,
                                 ps_weight=recipe.ps_weight, ps_batch=recipe.ps_batch,
                                 mask_weight=recipe.mask_weight, alpha=recipe.alpha, gamma=recipe.gamma,
                                 c_max=recipe.c_max, anneal_steps=recipe.anneal_steps)
        params = list(model.parameters())
        if isinstance(loss_fn, torch.nn.Module):
            # An objective with weights of its own (the perturbation recogniser) trains alongside the
            # model; it is a training aid only and is not saved in the checkpoint.
            params += list(loss_fn.to(dev).parameters())
        optimizer = torch.optim.Adam(params, lr=recipe.lr)
        history: dict[str, list[float]] = {}
        curve: list[tuple[float, int, float, float]] = []
        seconds, sums, count = 0.0, {}, 0
        batches = _prefetched(_batches(recipe, generator))
        bar = progress_bar(range(1, steps + 1), desc=f"training {name}", unit="step", enabled=progress)
        model.train()
        with bar:
            for step in bar:
                if recipe.lr_decay_step is not None and step == recipe.lr_decay_step + 1:
                    for group in optimizer.param_groups:
                        group["lr"] = recipe.lr * recipe.lr_decay_factor
                start = time.perf_counter()
                loss, logs = loss_fn(model, next(batches).to(dev, non_blocking=True))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                seconds += time.perf_counter() - start
                pool.step()  # outside the timed part: it reads the machine's load now and then
                for k, v in {"loss": loss.item(), **logs}.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                event = {}
                if step % 100 == 0 or step == steps:
                    for k, v in sums.items():
                        history.setdefault(k, []).append(v / count)
                    bar.set_postfix(loss=f"{sums['loss'] / count:.4g}")
                    event["loss"] = sums["loss"] / count
                    sums, count = {}, 0
                if eval_every and recipe.dataset == "dsprites" and (step % eval_every == 0 or step == steps):
                    scores = evaluate_dsprites(model, full=False, num_samples=eval_samples,
                                               factor_vae=eval_factor_vae)
                    curve.append((round(seconds, 2), step, scores["mig"], scores.get("factor_vae")))
                    model.to(dev).train()  # the evaluation encodes on the CPU
                    event.update(mig=scores["mig"], factor_vae=scores.get("factor_vae"))
                if event and on_progress is not None:
                    on_progress({"step": step, "steps": steps, "seconds": round(seconds, 2), **event})
        batches.close()
        model.cpu().eval()
    meta = {"name": name, "recipe": recipe.as_dict(), "steps": steps,
            "train_seconds": round(seconds, 3), "history": history, "curve": curve,
            "torch_version": str(torch.__version__), "threads": pool.describe()}
    if dev.type != "cpu":
        meta["device"] = str(dev)
    return model, meta


def _untrained_model(recipe: Recipe) -> VAE:
    """The recipe's network, freshly initialised (from torch's current seed)."""
    return VAE(VAEConfig(recipe.in_shape, recipe.latent_dim, recipe.hidden, encoder=recipe.encoder,
                         decoder=recipe.decoder))


def _save(model: VAE, meta: dict, directory: Path, metrics: dict | None = None) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    name = meta["name"]
    path = directory / f"{name}.pt"
    # float16 halves the size; the loss of precision does not move the metrics (they are re-measured on the stored weights).
    save_checkpoint(copy.deepcopy(model).half(), path, **meta)
    entry = {"file": path.name, "sha256": _file_sha256(path), "bytes": path.stat().st_size,
             "train_seconds": meta["train_seconds"], "steps": meta["steps"], "recipe": meta["recipe"],
             "curve": meta["curve"], "loss": meta["history"].get("loss", []),
             "metrics": metrics or {}, "torch_version": meta["torch_version"],
             "threads": meta.get("threads")}
    table = manifest(directory)
    table[name] = entry
    (directory / MANIFEST_NAME).write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return entry


def _load_file(directory: Path, name: str) -> VAE:
    entry = manifest(directory).get(name)
    path = directory / f"{name}.pt"
    if entry is None or not path.is_file():
        raise ZooError(
            f"zoo model {name!r} has no checkpoint in {directory}. Train it with `aecourse zoo train {name}` "
            f"or call aecourse.zoo.load({name!r}, retrain=True)"
        )
    if _file_sha256(path) != entry["sha256"]:
        raise CheckpointError(
            f"{path} does not match the sha256 in {directory / MANIFEST_NAME}: the file is damaged or was replaced. "
            f"Reinstall aecourse, or retrain with aecourse.zoo.load({name!r}, retrain=True)"
        )
    model, _ = load_checkpoint(path)
    return model.float().eval()


def load(name: str, *, retrain: bool = False, progress: bool = True) -> VAE:
    """A zoo model, ready to use (eval mode, CPU, float32).

    Parameters
    ----------
    name : str
        One of :func:`available`.
    retrain : bool, default False
        Train the recipe from scratch instead of loading the shipped weights;
        the result is cached in :func:`cache_dir` and reused by later
        ``retrain=True`` calls with the same recipe.
    """
    recipe = _recipe(name)
    if not retrain:
        return _load_file(WEIGHTS_DIR, name)
    cache = cache_dir()
    entry = manifest(cache).get(name)
    if entry is not None and entry["recipe"] == recipe.as_dict():
        try:
            return _load_file(cache, name)
        except (CheckpointError, ZooError):
            pass  # a damaged cache entry: retrain below
    model, meta = train(name, progress=progress)
    _save(model, meta, cache)
    return _load_file(cache, name)


def verify(directory: str | Path | None = None) -> dict[str, str]:
    """Check every manifest entry of a zoo directory; ``{name: "ok" or the problem}``."""
    directory = Path(directory or WEIGHTS_DIR)
    result = {}
    for name in manifest(directory):
        try:
            _load_file(directory, name)
            result[name] = "ok"
        except (CheckpointError, ZooError, FileNotFoundError) as exc:
            result[name] = str(exc)
    return result


def build(names: list[str] | None = None, *, directory: str | Path | None = None, steps: int | None = None,
          eval_every: int | None = 1000, progress: bool = True, eval_samples: int = 10000,
          threads: int | None = 1, seeds: list[int] | None = None, jobs: int = 1,
          keep_checkpoint: bool = False) -> dict:
    """Train, evaluate and store zoo models (what ``aecourse zoo train`` runs).

    ``threads`` is passed to :func:`train` (one by default; None follows the load).

    dSprites models are scored with :func:`evaluate_dsprites` on the stored
    (float16) weights; the scores go into the manifest. Returns the new
    manifest entries.

    ``seeds`` (dSprites models only) also trains the recipe with each of
    these seeds and keeps every run's scores, training seconds and curve in
    the entry's ``"seeds"`` (``{str(seed): {...}}``, the recipe's own seed
    included): the spread a comparison needs. Only the recipe's own seed is
    stored as a checkpoint, so the zoo's size does not grow with the seeds;
    the others are scored on float16-rounded weights too, as stored ones are.

    ``keep_checkpoint`` (with ``seeds``) leaves a stored checkpoint that
    was trained with the model's current recipe as it is: the recipe's own
    seed is not trained again but its checkpoint is scored again (as
    :func:`rescore` does), and only the other seeds train. That adds seeds
    to a shipped model without changing the weights other chapters load.
    Its run is marked ``"rescored": True``; its training seconds are the
    checkpoint's own. A model without such a checkpoint is trained as usual.

    ``jobs`` > 1 runs that many seeds at once, each in a process of its own
    (``threads`` each), pooled over all the named models: the same runs and
    the same numbers as one after another, since every run is seeded and
    single-process, in a fraction of the time on a machine with the cores.
    """
    directory = Path(directory or WEIGHTS_DIR)
    jobs = check_int("jobs", jobs, low=1)
    if seeds is not None:
        seeds = [check_int("seed", seed, low=0) for seed in seeds]
        if len(set(seeds)) != len(seeds):
            raise invalid("seeds", "distinct seeds", seeds)
    if keep_checkpoint and not seeds:
        raise invalid("keep_checkpoint", "seeds to train beside the kept checkpoint (to score a checkpoint "
                      "again without training, use zoo.rescore)", keep_checkpoint)
    names = list(names or available())
    for name in names:
        _recipe(name)
    out = {}
    for name in names:
        if RECIPES[name].dataset != "dsprites":  # nothing to score: train and store
            model, meta = train(name, steps=steps, progress=progress, eval_every=eval_every, threads=threads)
            out[name] = _save(model, meta, directory)
    scored = [name for name in names if RECIPES[name].dataset == "dsprites"]
    if scored:
        out.update(_build_scored(scored, directory, seeds, jobs, keep_checkpoint, progress=progress, steps=steps,
                                 eval_every=eval_every, eval_samples=eval_samples, threads=threads))
    return {name: out[name] for name in names}


def _build_scored(names: list[str], directory: Path, seeds: list[int] | None, jobs: int, keep_checkpoint: bool,
                  *, progress: bool, **kw) -> dict:
    """Every run of every dSprites model in ``names`` (each recipe's own seed first), in one pool when ``jobs`` > 1."""
    tasks = []  # (name, function, args, keyword arguments): one run each
    for name in names:
        recipe = RECIPES[name]
        kept = manifest(directory).get(name) if keep_checkpoint else None
        keep = kept is not None and kept["recipe"] == recipe.as_dict() and (directory / kept["file"]).is_file()
        for seed in [recipe.seed] + [s for s in seeds or [] if s != recipe.seed]:
            own = seed == recipe.seed
            if own and keep:
                tasks.append((name, _rescore_stored, (directory, name, seed), {"eval_samples": kw["eval_samples"]}))
            else:
                tasks.append((name, _train_and_score, (name, recipe, seed), {**kw, "keep_weights": own}))
    pending = {name: sum(task[0] == name for task in tasks) for name in names}
    entries, runs, stored = {}, {name: {} for name in names}, {}

    def record(name: str, result) -> None:
        # each model is stored as soon as its last run is in, so a long pool that stops keeps what it finished
        seed, state, meta, metrics = result
        recipe = RECIPES[name]
        if seed == recipe.seed and state is not None:  # the checkpoint's run, trained here
            model = _untrained_model(recipe)
            model.load_state_dict(state)
            meta["name"] = name
            entries[name] = _save(model.eval(), meta, directory, metrics=metrics)
        elif seed == recipe.seed:  # the checkpoint kept, scored again
            entries[name] = {**manifest(directory)[name], "metrics": metrics}
        runs[name][str(seed)] = _seed_record(meta, metrics)
        pending[name] -= 1
        if not pending[name]:
            stored[name] = (_store_seeds(directory, name, entries[name], runs[name]) if seeds
                            else _store_entry(directory, name, entries[name]))

    if jobs > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        import multiprocessing

        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fn, *args, **options): name for name, fn, args, options in tasks}
            for future in as_completed(futures):
                record(futures[future], future.result())
    else:
        for name, fn, args, options in tasks:
            record(name, fn(*args, **({**options, "progress": progress} if fn is _train_and_score else options)))
    return {name: stored[name] for name in names}


def _rescore_stored(directory: Path, name: str, seed: int, *, eval_samples: int):
    """Score a stored checkpoint again as its recipe seed's run: ``(seed, None, meta, metrics)``."""
    entry = manifest(directory)[name]
    metrics = evaluate_dsprites(_load_file(directory, name), num_samples=eval_samples)
    meta = {"train_seconds": entry["train_seconds"], "curve": entry.get("curve", []),
            "threads": entry.get("threads"), "rescored": True}
    return seed, None, meta, metrics


def _train_and_score(name: str, recipe: Recipe, seed: int, *, steps, eval_every, eval_samples, threads,
                     progress: bool = False, keep_weights: bool = False):
    """Train one seed of a recipe and score it on float16-rounded weights: ``(seed, state or None, meta, metrics)``.

    Module-level (and given the recipe itself) so a worker process can run it: a recipe registered at
    run time, as the tests do, is then known in the fresh process too.
    """
    RECIPES[name] = recipe
    model, meta = train(name, steps=steps, progress=progress, eval_every=eval_every, threads=threads, seed=seed)
    stored = copy.deepcopy(model).half().float()  # the precision a checkpoint keeps
    metrics = evaluate_dsprites(stored, num_samples=eval_samples)
    return seed, (model.state_dict() if keep_weights else None), meta, metrics


def _store_seeds(directory: Path, name: str, entry: dict, runs: dict) -> dict:
    return _store_entry(directory, name, {**entry, "seeds": dict(sorted(runs.items(), key=lambda item: int(item[0])))})


def _store_entry(directory: Path, name: str, entry: dict) -> dict:
    table = manifest(directory)
    table[name] = entry
    (directory / MANIFEST_NAME).write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return entry


def _seed_record(meta: dict, metrics: dict) -> dict:
    """What a manifest keeps of one seed's run (``entry["seeds"][str(seed)]``)."""
    record = {"metrics": metrics, "train_seconds": meta["train_seconds"], "curve": meta["curve"],
              "threads": meta.get("threads")}
    if meta.get("rescored"):
        record["rescored"] = True
    return record


def seed_scores(name: str, directory: str | Path | None = None) -> dict[int, dict[str, float]]:
    """``{seed: scores}`` of every seed ``aecourse zoo train --seeds`` recorded for zoo model ``name``.

    A model trained without ``--seeds`` has only its recipe's seed (its
    checkpoint's scores).
    """
    _recipe(name)
    entry = manifest(directory).get(name)
    if entry is None:
        raise ZooError(f"zoo model {name!r} is not in the manifest of {directory or WEIGHTS_DIR}; "
                       f"train it with `aecourse zoo train {name}`")
    runs = entry.get("seeds") or {str(entry["recipe"].get("seed", 0)): {"metrics": entry["metrics"]}}
    return {int(seed): dict(run["metrics"]) for seed, run in runs.items()}
