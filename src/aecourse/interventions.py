"""Interventional assays of an autoencoder's latent space (chapter 06-interventions).

Leeb, Bauer, Besserve & Schölkopf 2022, "Exploring the Latent Space of
Autoencoders with Interventional Assays" (NeurIPS,
https://arxiv.org/abs/2106.16091), official code
``github.com/felixludos/latent-responses`` (``src/responses.py``,
``src/maps.py``). The code here is written afresh; each docstring names the
official function it follows and says where this version differs.

The idea
--------
An autoencoder's decoder maps a code ``z`` to an image and its encoder maps
the image back. The **latent response** ``R(z) = encode(decode(z))`` is
rarely ``z`` itself: a trained autoencoder is *locally contractive*, so
``R`` pulls codes toward the part of latent space that real images occupy
(the learned manifold). Intervening on one latent and watching how all
latents *respond* reveals which latents the decoder really uses and how
they depend on each other, without looking at any labels:

==========================================  ====================================================
function                                    what it gives
==========================================  ====================================================
:func:`latent_response`                     ``R(z)``, shape (n, d)
:func:`intervene`                           ``z`` with one latent set to new values
:func:`sample_interventions`                base codes and intervention values from the
                                            aggregate posterior or the prior
:func:`response_matrix_from`                the (d, d) response matrix for given codes and values
:func:`response_matrix`                     the same, sampling codes and values for you
:func:`conditioned_response_matrix`         (factors, d): which latents respond when only one
                                            true factor varies
:func:`causal_disentanglement_score`        one number from the conditioned matrix
:func:`response_map`                        ``R(z) - z`` on a 2-D slice: magnitude, divergence,
                                            mean curvature
==========================================  ====================================================

Conventions
-----------
* Codes ``z`` are ``(n, d)`` float tensors, one row per sample; ``d`` is
  the model's ``latent_dim``. Functions accept numpy arrays too.
* A *model* is anything with ``encode(x) -> (n, d)`` and ``decode(z) ->
  x``; :class:`aecourse.vae.VAE`'s ``encode`` already returns the posterior
  **mean**, which is what the official code takes of a distribution. An
  ``encode`` returning ``(mu, logvar)`` is read as its first element.
* Models run without gradients, in ``eval`` mode (restored afterwards), in
  batches, on the device of their parameters; results come back on the CPU.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .contracts import Autoencoder, as_array, as_codes, check_int, check_number, invalid, require
from .progress import progress_bar
from .viz import latent_index, model_device, single_code

__all__ = [
    "latent_response",
    "posterior_means",
    "intervene",
    "sample_interventions",
    "response_matrix_from",
    "response_matrix",
    "conditioned_response_matrix",
    "causal_disentanglement_score",
    "active_latents",
    "latent_grid",
    "divergence_2d",
    "mean_curvature_2d",
    "response_map",
    "SOURCES",
]

#: Where :func:`sample_interventions` draws intervention values from.
SOURCES = ("posterior", "prior")


# --------------------------------------------------------------------------- running a model
def _check_model(model) -> None:
    require(model, Autoencoder, fix="the assays decode codes and encode the images again")


def _latent_dim(model) -> int | None:
    """``model.latent_dim`` (or ``model.config.latent_dim``), None when the model does not say."""
    for owner in (model, getattr(model, "config", None)):
        value = getattr(owner, "latent_dim", None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
    return None


def _check_data(data) -> None:
    members = ("factor_sizes", "sample_factors", "sample_observations_from_factors")
    missing = [m for m in members if not hasattr(data, m)]
    if missing:
        raise invalid("data", f"a GroundTruthData (see aecourse.measure) with {', '.join(members)}",
                      f"{type(data).__name__}, which lacks {', '.join(missing)}",
                      "for dSprites use aecourse.data.dsprites.DSpritesGroundTruth(resolution) at the model's "
                      "resolution", error=TypeError, shown=True)


@contextmanager
def _evaluating(model):
    """Run ``model`` in eval mode (no dropout noise), then restore the caller's mode."""
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    try:
        yield
    finally:
        if is_module:
            model.train(was_training)


def _mean(out) -> torch.Tensor:
    # An encoder returning (mu, logvar) is read as its mean, as the official code reads a distribution.
    if isinstance(out, (tuple, list)):
        out = out[0]
    return torch.as_tensor(out)


@torch.no_grad()
def posterior_means(model, images, *, batch_size: int = 1024) -> torch.Tensor:
    """Encode images to codes: the posterior means, the "aggregate posterior" sample.

    Parameters
    ----------
    model : autoencoder with ``encode``
    images : Tensor or array, shape (n, *in_shape)
        E.g. ``DSpritesGroundTruth(32).sample(2000, rng)[1]``, float32 (n, 1, 32, 32).
    batch_size : int
        Images encoded per call.

    Returns
    -------
    Tensor, shape (n, d), float32 on the CPU
    """
    _check_model(model)
    batch_size = check_int("batch_size", batch_size, low=1)
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images, dtype=np.float32))
    device = model_device(model)
    with _evaluating(model):
        parts = [_mean(model.encode(x[i:i + batch_size].to(device))).cpu().float()
                 for i in range(0, len(x), batch_size)]
    z = torch.cat(parts) if parts else torch.zeros(0, _latent_dim(model) or 0)
    if z.dim() != 2 or len(z) != len(x):
        raise invalid("model.encode(x)", "codes (n, latent_dim)", f"shape {tuple(z.shape)} for {len(x)} images",
                      shown=True)
    return z


@torch.no_grad()
def latent_response(model, z, *, batch_size: int = 1024) -> torch.Tensor:
    """The latent response ``R(z) = encode(decode(z))``: decode a code, encode the image again.

    ``R`` is the official ``Autoencoder.response``. For a trained
    autoencoder ``R(z)`` lies closer to the codes of real images than ``z``
    does (the autoencoder is locally contractive), and ``R(z) = z`` only on
    the part of latent space the decoder and encoder agree on.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
        ``encode`` must return the posterior mean (as :class:`~aecourse.vae.VAE`
        does), or ``(mu, logvar)``, whose ``mu`` is used.
    z : Tensor or array, shape (n, d)
        Codes; ``d`` must equal ``model.latent_dim`` when the model has one.
    batch_size : int
        Codes per decode/encode call (bounds memory).

    Returns
    -------
    Tensor, shape (n, d), float32 on the CPU
    """
    _check_model(model)
    batch_size = check_int("batch_size", batch_size, low=1)
    z = as_codes(z, "z", latent_dim=_latent_dim(model))
    device = model_device(model)
    with _evaluating(model):
        parts = [_mean(model.encode(model.decode(z[i:i + batch_size].to(device)))).cpu().float()
                 for i in range(0, len(z), batch_size)]
    out = torch.cat(parts) if parts else torch.zeros(0, z.shape[1])
    if out.shape != z.shape:
        raise invalid("encode(decode(z))", f"codes of the shape of z, {tuple(z.shape)}", f"shape {tuple(out.shape)}",
                      "the encoder must map images back to codes (n, d)", shown=True)
    return out


# --------------------------------------------------------------------------- interventions
def intervene(z, dim: int, values) -> torch.Tensor:
    """A copy of ``z`` with latent ``dim`` set to ``values``: the intervention ``do(z_dim = v)``.

    Parameters
    ----------
    z : Tensor or array, shape (n, d)
        Codes; never modified.
    dim : int
        The latent to intervene on, ``0 <= dim < d``.
    values : float, or Tensor / array of shape (n,)
        The new value of latent ``dim``: one for all rows, or one per row.

    Returns
    -------
    Tensor, shape (n, d)
        Equal to ``z`` except in column ``dim``. The official
        ``Autoencoder.intervene`` also shuffles the values; here the caller
        chooses them (see :func:`sample_interventions`).
    """
    z = as_codes(z)
    dim = latent_index(dim, z.shape[1])
    values = torch.as_tensor(values, dtype=z.dtype, device=z.device)
    if values.dim() > 1 or (values.dim() == 1 and len(values) != len(z)):
        raise invalid("values", f"one number or one per row, shape ({len(z)},)", f"shape {tuple(values.shape)}",
                      shown=True)
    out = z.clone()  # the caller's codes stay as they were
    out[:, dim] = values
    return out


def _generator(generator) -> torch.Generator | None:
    """A torch Generator from an int seed (None: torch's global generator)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise invalid("generator", "a torch.Generator, an int seed or None", type(generator).__name__, error=TypeError,
                  shown=True)


def _check_source(source) -> str:
    if source not in SOURCES:
        raise invalid("source", "'posterior' (values taken from other codes: the aggregate posterior) "
                      "or 'prior' (values from N(0, 1))", source)
    return source


def sample_interventions(codes, num_samples: int, *, source: str = "posterior",
                         generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Base codes and intervention values for a response matrix.

    Follows the official ``response_mat`` (and its helper
    ``select_indices``): base codes are rows of ``codes`` drawn without
    replacement when ``num_samples <= len(codes)``, with replacement
    otherwise.

    * ``source="posterior"``: the value for latent ``j`` of sample ``i`` is
      latent ``j`` of another, randomly chosen row of ``codes``, never the
      base row itself (the official ``force_different``), chosen
      independently for every latent: per-column shuffles of the aggregate
      posterior. It keeps interventions on values the encoder really
      produces.
    * ``source="prior"``: values drawn from N(0, 1), the VAE prior.

    Parameters
    ----------
    codes : Tensor or array, shape (N, d)
        Posterior means of real images (:func:`posterior_means`); ``N >= 2``
        for ``source="posterior"``.
    num_samples : int
        Rows to draw.
    source : "posterior" or "prior"
    generator : torch.Generator or int seed, optional

    Returns
    -------
    z : Tensor, shape (num_samples, d)
        Base codes.
    values : Tensor, shape (num_samples, d)
        ``values[:, j]`` are the values latent ``j`` is set to.

    Differences: the official code intervenes with aggregate-posterior
    values only when given them explicitly, and forces them to differ from
    the base row only in the conditioned matrix; here ``"posterior"``
    always forces it (it changes the estimate only by the rare draws that
    would have been no intervention at all).
    """
    source = _check_source(source)
    codes = as_codes(codes, "codes")
    num_samples = check_int("num_samples", num_samples, low=1)
    n, d = codes.shape
    if n == 0:
        raise invalid("codes", "the posterior means of at least two images", "an empty batch", shown=True)
    gen = _generator(generator)
    if num_samples <= n:
        rows = torch.randperm(n, generator=gen)[:num_samples]
    else:
        rows = torch.randint(n, (num_samples,), generator=gen)
    z = codes[rows]
    if source == "prior":
        return z, torch.randn(num_samples, d, generator=gen, dtype=codes.dtype)
    if n < 2:
        raise invalid("codes", "at least 2 rows for source='posterior'", f"{n} row",
                      "it takes each intervention value from a different code", shown=True)
    # A shift of 1..n-1 (mod n) lands on any row but the base row, uniformly.
    shift = torch.randint(n - 1, (num_samples, d), generator=gen) + 1
    other = (rows[:, None] + shift) % n
    return z, torch.gather(codes, 0, other)


# --------------------------------------------------------------------------- response matrices
def _response_matrices(response_fn, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Response matrices for ``t`` independent sets at once: ``z``, ``values`` (t, n, d) -> (t, d, d).

    Every intervened code (one per latent, set and sample) and the base
    codes go through ``response_fn`` in one call, so a model sees big batches.
    """
    t, n, d = z.shape
    flat = z.reshape(t * n, d)
    moved = [intervene(flat, j, values[..., j].reshape(-1)) for j in range(d)]
    out = torch.as_tensor(response_fn(torch.cat([flat, *moved])))
    if tuple(out.shape) != ((d + 1) * t * n, d):
        raise invalid("response_fn", f"a function mapping codes (m, {d}) to responses (m, {d})",
                      f"one that returned shape {tuple(out.shape)} for {(d + 1) * t * n} codes", shown=True)
    out = out.detach().cpu().double()  # float64: squares of small differences lose nothing
    base = out[:t * n].view(1, t, n, d)
    responses = out[t * n:].view(d, t, n, d)  # intervened latent j, set, sample, responding latent
    rms = (responses - base).pow(2).mean(dim=2).sqrt()  # (j, set, responding latent)
    return rms.permute(1, 0, 2)


def response_matrix_from(response_fn, z, values) -> np.ndarray:
    """The latent response matrix for given base codes and intervention values.

    Row ``j`` says how much every latent responds to intervening on latent
    ``j``::

        M[j, i] = sqrt( mean over samples s of
                        ( R(intervene(z, j, values[:, j]))[s, i] - R(z)[s, i] )**2 )

    with ``R = response_fn``: the root-mean-square change of response ``i``,
    as in the official ``response_mat``. A latent the decoder ignores has a
    zero row (intervening on it changes no image); a latent the encoder
    ignores has a zero column.

    Parameters
    ----------
    response_fn : callable, codes (m, d) -> responses (m, d)
        E.g. ``lambda z: latent_response(model, z)``.
    z : Tensor or array, shape (n, d)
        Base codes.
    values : Tensor or array, shape (n, d)
        ``values[:, j]`` are the values latent ``j`` is set to.

    Returns
    -------
    ndarray, shape (d, d), float64
        Rows: the latent intervened on; columns: the latent responding.

    Differences: the official code draws fresh base codes for every row;
    here all rows share ``z`` (so rows differ only by the intervention, and
    ``R(z)`` is computed once). ``response_fn`` is called once, on all
    ``(d + 1) * n`` codes stacked (the base codes first, then the codes
    intervened on latent 0, 1, ...), which gives the same numbers as calling
    it per row for any function that treats rows independently.
    """
    z = as_codes(z, "z")
    values = as_codes(values, "values")
    if values.shape != z.shape:
        raise invalid("values", f"of the shape of z, {tuple(z.shape)} (one value per sample and latent)",
                      f"shape {tuple(values.shape)}", shown=True)
    if len(z) == 0:
        raise invalid("z", "at least one base code", "an empty batch", shown=True)
    if not callable(response_fn):
        raise invalid("response_fn", "a function codes -> responses", type(response_fn).__name__, error=TypeError,
                      shown=True)
    return _response_matrices(response_fn, z[None], values[None])[0].numpy()


def _prior_codes(model, num_samples: int, gen) -> tuple[torch.Tensor, torch.Tensor]:
    d = _latent_dim(model)
    if d is None:
        raise invalid("model", "a model that says its latent size (model.latent_dim)", type(model).__name__,
                      "cannot tell the latent size: pass codes (n, d) to draw from", shown=True)
    return torch.randn(num_samples, d, generator=gen), torch.randn(num_samples, d, generator=gen)


def response_matrix(model, codes=None, *, num_samples: int = 256, source: str = "posterior", seed=0,
                    batch_size: int = 1024) -> np.ndarray:
    """The latent response matrix of a model (official ``response_mat``).

    Draws ``num_samples`` base codes and intervention values with
    :func:`sample_interventions` and applies :func:`response_matrix_from`
    with ``R = latent_response(model, .)``.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
    codes : Tensor or array, shape (N, d), optional
        Posterior means of real images (:func:`posterior_means`), the
        aggregate posterior that base codes (and, with
        ``source="posterior"``, intervention values) are drawn from. Without
        codes, base codes come from the prior N(0, I) too (as the official
        code does without samples); that needs ``source="prior"``.
    num_samples : int
        Base codes per matrix (official default 100 in ``response_mat``,
        256 in the paper's evaluation).
    source : "posterior" or "prior"
        Where intervention values come from.
    seed : int or torch.Generator
    batch_size : int
        Codes per decode/encode call.

    Returns
    -------
    ndarray, shape (d, d), float64
        Rows: intervened latent; columns: responding latent.
    """
    _check_model(model)
    source = _check_source(source)
    num_samples = check_int("num_samples", num_samples, low=1)
    gen = _generator(seed)
    if codes is None:
        if source == "posterior":
            raise invalid("codes", "posterior means for source='posterior'", "None",
                          "it takes base codes and intervention values from the aggregate posterior, so it needs "
                          "codes: pass codes=posterior_means(model, images), or use source='prior'", shown=True)
        z, values = _prior_codes(model, num_samples, gen)
    else:
        codes = as_codes(codes, "codes", latent_dim=_latent_dim(model))
        z, values = sample_interventions(codes, num_samples, source=source, generator=gen)
    return response_matrix_from(lambda c: latent_response(model, c, batch_size=batch_size), z, values)


# --------------------------------------------------------------------------- conditioned on true factors
def _traversal_codes(model, data, factor: int, num_traversals: int, rng: np.random.Generator,
                     batch_size: int) -> torch.Tensor:
    """Codes (num_traversals, size, d) of full traversals of one factor from random base settings."""
    size = int(data.factor_sizes[factor])
    base = np.asarray(data.sample_factors(num_traversals, rng))
    factors = np.repeat(base, size, axis=0)  # each base setting `size` times in a row ...
    factors[:, factor] = np.tile(np.arange(size), num_traversals)  # ... with the factor running through all values
    images = data.sample_observations_from_factors(factors, rng)
    codes = posterior_means(model, images, batch_size=batch_size)
    return codes.view(num_traversals, size, -1)


def conditioned_response_matrix(model, data, *, num_traversals: int = 50, batch_size: int = 32, seed=0,
                                progress: bool = False) -> np.ndarray:
    """How strongly each latent responds when only one true factor varies (official ``conditioned_response_mat``).

    For each factor ``k``, ``num_traversals`` times: pick a random setting
    of all factors, render the full traversal of factor ``k`` (every value
    of ``k``, the others fixed) and encode it to posterior means, a *group*
    of codes that differ only through factor ``k``. Draw ``batch_size`` base
    codes and intervention values from that group, each value from a
    *different* member than its base code (:func:`sample_interventions`
    with ``source="posterior"``), and keep the diagonal of the response
    matrix: ``[j]`` = how much latent ``j`` responds to being moved the way
    factor ``k`` moves it. Row ``k`` is the mean diagonal over traversals.

    A latent that does not encode factor ``k`` takes (almost) the same value
    all along the traversal, so intervening with values from the group
    changes nothing and its entry is 0: each latent lights up only in the
    rows of the factors it encodes.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
    data : GroundTruthData
        ``factor_sizes``, ``sample_factors(n, rng)`` and
        ``sample_observations_from_factors(factors, rng)`` (see
        :mod:`aecourse.measure`), e.g.
        :class:`~aecourse.data.dsprites.DSpritesGroundTruth` at the model's resolution.
    num_traversals : int
        Traversals per factor (official default 50; "at least 10").
    batch_size : int
        Base codes (interventions) per traversal (official default 32).
    seed : int, numpy Generator or None
    progress : bool
        Show a progress bar over the factors.

    Returns
    -------
    ndarray, shape (num_factors, d), float64, non-negative
        Feed it to :func:`causal_disentanglement_score`.

    Differences: the official code draws fresh base codes for every latent
    ``j``; here the latents share them within a traversal (see
    :func:`response_matrix_from`). All traversals of a factor are rendered,
    encoded and responded to in a few large batches, which gives the same
    numbers as one traversal at a time. A factor with a single value cannot
    be traversed; its row is 0 (the official code fails).
    """
    _check_model(model)
    _check_data(data)
    num_traversals = check_int("num_traversals", num_traversals, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    sizes = [int(s) for s in data.factor_sizes]
    rows = []
    for k in progress_bar(range(len(sizes)), desc="conditioned responses", unit="factor", enabled=progress):
        codes = _traversal_codes(model, data, k, num_traversals, rng, batch_size=1024)
        if sizes[k] < 2:  # nothing to intervene with: every member of the group is the same image
            rows.append(np.zeros(codes.shape[-1]))
            continue
        pairs = [sample_interventions(group, batch_size, source="posterior", generator=gen) for group in codes]
        z = torch.stack([p[0] for p in pairs])
        values = torch.stack([p[1] for p in pairs])
        mats = _response_matrices(lambda c: latent_response(model, c), z, values)  # (traversals, d, d)
        rows.append(torch.diagonal(mats, dim1=1, dim2=2).mean(0).numpy())
    return np.stack(rows)


def causal_disentanglement_score(cond) -> float:
    """The causal disentanglement score (official ``score_from_conditioned_response_mat``).

    ``sum over latents of (the latent's largest response over factors) /
    (sum of all responses)``, i.e. ``cond.max(axis=0).sum() / cond.sum()``.
    It is 1 when every latent responds to a single factor, and ``1/k`` for
    ``k`` factors when every latent responds to all factors equally. Like
    modularity it does not ask that every factor have a latent: a model
    encoding one factor perfectly and ignoring the rest also scores 1.

    Parameters
    ----------
    cond : array or Tensor, shape (num_factors, d), non-negative
        From :func:`conditioned_response_matrix`.

    Returns
    -------
    float in [1/num_factors, 1]; 0.0 for an all-zero matrix (no latent
    responds to anything), where the official code divides by zero.
    """
    cond = as_array(cond, "cond", finite=False)
    if cond.ndim != 2 or cond.size == 0:
        raise invalid("cond", "a conditioned response matrix of shape (num_factors, latent_dim)",
                      f"shape {cond.shape}", shown=True)
    if not np.isfinite(cond).all() or (cond < 0).any():
        raise invalid("cond", "finite, non-negative responses (root-mean-square changes)",
                      "negative or non-finite values", "compute it with conditioned_response_matrix", shown=True)
    total = cond.sum()
    if total == 0:
        return 0.0
    return float(cond.max(axis=0).sum() / total)


def active_latents(codes, threshold: float = 0.05) -> np.ndarray:
    """Which latents vary across the data: standard deviation of the codes >= ``threshold``.

    The rule (and default threshold) FactorVAE's score uses to prune
    collapsed latents (:func:`aecourse.measure.factor_vae_score`).
    A collapsed VAE latent sits at the prior mean for every image; its
    response-matrix row and column are near 0.

    Parameters
    ----------
    codes : Tensor or array, shape (n, d)
        Posterior means of real images.

    Returns
    -------
    ndarray of bool, shape (d,)
    """
    codes = as_codes(codes, "codes")
    if len(codes) < 2:
        raise invalid("codes", "at least 2 rows to measure how each latent varies", f"{len(codes)} row", shown=True)
    return (codes.double().std(dim=0) >= threshold).numpy()


# --------------------------------------------------------------------------- response maps
def _check_pair(dims, d: int) -> tuple[int, int]:
    try:
        a, b = dims
    except (TypeError, ValueError):
        raise invalid("dims", "a pair of latent indices (a, b)", dims) from None
    a, b = latent_index(a, d, "dims[0]"), latent_index(b, d, "dims[1]")
    if a == b:
        raise invalid("dims", "two different latents", (a, b))
    return a, b


def latent_grid(base, dims, *, span: float = 2.0, n: int = 32) -> torch.Tensor:
    """Codes on a square grid in the plane of two latents, the others held at ``base``.

    Official ``generate_2d_latent_map`` (``r=2``, ``n=64``).

    Parameters
    ----------
    base : Tensor or array, shape (d,) or (1, d)
        The code the slice passes through (its values in ``dims`` are replaced).
    dims : (int, int)
        The two latents spanning the plane.
    span : float
        The grid covers ``[-span, span]`` in both latents.
    n : int >= 2
        Grid points per side.

    Returns
    -------
    Tensor, shape (n, n, d), float32
        ``grid[a, b]`` is ``base`` with latent ``dims[0] = values[a]`` and
        latent ``dims[1] = values[b]``, where ``values = linspace(-span,
        span, n)``: the first grid axis runs along ``dims[0]``.
    """
    base = torch.from_numpy(single_code(base, "base"))  # (d,) float32, finite
    a, b = _check_pair(dims, len(base))
    span = check_number("span", span, low=0, low_open=True, fix="the grid covers [-span, span]")
    n = check_int("n", n, low=2, fix="grid points per side")
    values = torch.linspace(-span, span, n)
    grid = base.reshape(1, 1, -1).repeat(n, n, 1)
    grid[:, :, a] = values[:, None]
    grid[:, :, b] = values[None, :]
    return grid


def _as_field(field) -> np.ndarray:
    field = as_array(field, "field", finite=False)
    if field.ndim != 3 or field.shape[2] != 2 or min(field.shape[:2]) < 2:
        raise invalid("field", "a grid of 2-D vectors of shape (n, m, 2) with n, m >= 2", f"shape {field.shape}",
                      shown=True)
    return field


def _check_spacing(spacing) -> float:
    return check_number("spacing", spacing, low=0, low_open=True, fix="the distance between grid points")


def divergence_2d(field, spacing: float = 1.0) -> np.ndarray:
    """Divergence of a vector field on a grid, by central finite differences.

    ``div = d field[..., 0] / d axis 0 + d field[..., 1] / d axis 1``
    (``np.gradient``: central differences inside, one-sided at the edges),
    the official ``compute_divergence_2d``. Negative divergence means the
    responses converge: the autoencoder contracts that region toward the
    learned manifold.

    Parameters
    ----------
    field : array or Tensor, shape (n, m, 2)
        ``field[a, b]`` is the vector at grid point ``(a, b)``, its component
        0 along grid axis 0 (as :func:`response_map` returns it).
    spacing : float
        Distance between neighbouring grid points, in latent units.

    Returns
    -------
    ndarray, shape (n, m)

    Differences: the official code ignores the spacing (differences per grid
    step); dividing by it gives the divergence per latent unit, the same for
    any grid resolution (``R(z) = c z`` has divergence ``2 (c - 1)``).
    """
    field = _as_field(field)
    spacing = _check_spacing(spacing)
    return np.gradient(field[..., 0], spacing, axis=0) + np.gradient(field[..., 1], spacing, axis=1)


def mean_curvature_2d(field, spacing: float = 1.0) -> np.ndarray:
    """Mean curvature of the field's level sets: ``-0.5 * divergence(field / |field|)``.

    Official ``compute_mean_curvature_2d``: only the field's direction
    counts. Where it points toward one spot from all sides (a fixed point or
    a curve the responses converge on) the curvature is large and positive;
    for the radial field ``-z`` it is ``0.5 / |z|``.

    Parameters
    ----------
    field : array or Tensor, shape (n, m, 2)
    spacing : float
        Distance between neighbouring grid points, in latent units.

    Returns
    -------
    ndarray, shape (n, m)

    Differences: the spacing is divided out (see :func:`divergence_2d`); a
    zero vector has no direction and is left at 0 (the official code
    divides 0 by 0 and gets NaN, which spreads to its neighbours).
    """
    field = _as_field(field)
    norm = np.linalg.norm(field, axis=-1, keepdims=True)
    unit = np.divide(field, norm, out=np.zeros_like(field), where=norm > 0)
    return -0.5 * divergence_2d(unit, spacing)


def response_map(model, base, dims, *, span: float = 2.0, n: int = 32, batch_size: int = 1024) -> dict:
    """The response field ``R(z) - z`` on a 2-D slice of latent space (official ``response_map_2d``).

    Each grid point (:func:`latent_grid`) is moved by the autoencoder to
    ``R(z)``; the arrow ``R(z) - z`` restricted to the two latents shows
    where it is pulled. Long arrows: far from the learned manifold. Negative
    divergence: the responses converge there.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
    base : Tensor or array, shape (d,)
        Values of the other latents (e.g. zeros, or the code of an image).
    dims : (int, int)
        The two latents of the slice.
    span : float
        Grid over ``[-span, span]^2`` (official ``r=2``).
    n : int
        Grid points per side (official 64; 32 is quick on a CPU).
    batch_size : int
        Codes per decode/encode call.

    Returns
    -------
    dict of ndarrays
        ``"values"`` (n,): the grid coordinates; ``"grid"`` (n, n, d): the
        codes, ``grid[a, b]`` has ``dims[0] = values[a]``, ``dims[1] =
        values[b]``; ``"field"`` (n, n, 2): ``R(z) - z`` in latents
        ``dims[0]``, ``dims[1]``; ``"magnitude"`` (n, n): its length;
        ``"divergence"`` and ``"curvature"`` (n, n): per latent unit (see
        :func:`divergence_2d`, :func:`mean_curvature_2d`); ``"dims"``: the
        pair.
    """
    _check_model(model)
    d = _latent_dim(model)
    grid = latent_grid(base, dims, span=span, n=n)
    if d is not None and grid.shape[-1] != d:
        raise invalid("base", f"a code of the model's latent_dim={d} latents", f"{grid.shape[-1]} latents",
                      shown=True)
    a, b = _check_pair(dims, grid.shape[-1])
    flat = grid.reshape(n * n, -1)
    field = (latent_response(model, flat, batch_size=batch_size) - flat)[:, [a, b]].reshape(n, n, 2)
    field = field.double().numpy()
    values = np.linspace(-float(span), float(span), int(n))
    spacing = values[1] - values[0]
    return {"values": values, "grid": grid.numpy(), "field": field,
            "magnitude": np.linalg.norm(field, axis=-1),
            "divergence": divergence_2d(field, spacing), "curvature": mean_curvature_2d(field, spacing),
            "dims": (a, b)}
