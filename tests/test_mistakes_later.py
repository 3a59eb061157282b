"""No false green in chapters 04-07: a catalogue of plausible wrong answers, graded twice.

Every entry is a typical mistake for one graded cell of ``solutions/<chapter>/<chapter>.ipynb``.
``mistakehelp`` runs, in a real IPython shell (answer-cell tracking included), what the notebook runs:
the chapter's setup cells, the wrong answer cell, the public part of the test cell; and, separately,
the answer cell and the ``### BEGIN HIDDEN TESTS`` part, as nbgrader grades. Whenever the hidden tests
fail, the public check must fail too, with one ❌ line (no checker traceback) whose message names the
mistake (the entry's keyword) and a hint that does not print a line of the solution. The notebook's
solutions must pass both, the release stubs fail, and right answers written in other forms (``"B"``,
``" (b) "``, ``" Factor. "``) pass both.

Code mistakes are written below as ordinary functions; each becomes the answer cell a learner would
write (the function renamed to the exercise's name, with the small helpers it uses). Only the setup
cells the checks and hidden tests need are run (imports, the globals the hidden tests read, the zoo's
shipped models), so the file runs in about a minute.
"""
from __future__ import annotations

import inspect
import re
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mistakehelp import Chapter, assert_no_false_green, assert_reference_passes
from mistakehelp import Mistake as CellMistake

D, M, I, W = "04-disentangle", "05-measure", "06-interventions", "07-where-what"
CHAPTERS = {
    D: Chapter(D, setup=("c001",)),
    M: Chapter(M, setup=("c001", "c005", "c013")),   # toy_codes and factors; mutual_info_score, imported by ex 2
    I: Chapter(I, setup=("c001", "c003")),           # the zoo models and their aggregate posteriors
    W: Chapter(W, setup=("c001", "c017")),           # the zoo's masked-decoder model `where`
}
CELL_IMPORTS = "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"


@dataclass(frozen=True)
class Entry:
    chapter: str
    grade_id: str
    name: str           # the exercise's function or the answer variable
    label: str
    answer: Any         # a function (code exercises) or the answer cell's source (quiz and blank)
    keyword: str        # regex (case-insensitive) the ❌ message must match: it names the mistake
    others: tuple[str, ...] = ()
    earlier: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.chapter[:2]}-{self.grade_id}-{self.label}"


CATALOGUE: list[Entry] = []


def mistake(chapter: str, grade_id: str, name: str, keyword: str, label: str | None = None):
    """Decorator: register a wrong implementation of ``name``."""
    def register(fn: Callable) -> Callable:
        CATALOGUE.append(Entry(chapter, grade_id, name, label or fn.__name__, fn, keyword))
        return fn
    return register


def _names(code) -> set[str]:
    """Global names a code object uses, including those of its comprehensions and lambdas."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _helpers_of(fn: Callable, seen: dict[str, Callable]) -> None:
    for name in sorted(_names(fn.__code__)):
        helper = globals().get(name)
        if name.startswith("_") and inspect.isfunction(helper) and name not in seen:
            _helpers_of(helper, seen)
            seen[name] = helper


def cell_source(entry: Entry) -> str:
    """The answer cell a learner would write for a function mistake."""
    if isinstance(entry.answer, str):
        return entry.answer
    fn = entry.answer
    helpers: dict[str, Callable] = {}
    _helpers_of(fn, helpers)
    lines = inspect.getsource(fn).splitlines()
    body = "\n".join(lines[next(i for i, ln in enumerate(lines) if ln.startswith("def ")):])
    body = body.replace(f"def {fn.__name__}(", f"def {entry.name}(", 1)
    return CELL_IMPORTS + "".join(inspect.getsource(h) + "\n" for h in helpers.values()) + body + "\n"


# =========================================================================== 04-disentangle
D = "04-disentangle"


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


# --- exercise 1: reparameterize
@mistake(D, "test_reparameterize", "reparameterize", "spread|variance")
def std_is_exp_logvar(mu, logvar):                       # sigma = exp(logvar): the variance, not the std
    return mu + logvar.exp() * torch.randn_like(mu)


@mistake(D, "test_reparameterize", "reparameterize", "spread|variance")
def logvar_as_std(mu, logvar):
    return mu + logvar * torch.randn_like(mu)


@mistake(D, "test_reparameterize", "reparameterize", "no noise|no random")
def no_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar)


@mistake(D, "test_reparameterize", "reparameterize", "uniform")
def uniform_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)


@mistake(D, "test_reparameterize", "reparameterize", "tuple")
def returns_z_and_eps(mu, logvar):
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps, eps


@mistake(D, "test_reparameterize", "reparameterize", "autograd|gradient")
def detached_sample(mu, logvar):
    return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()


@mistake(D, "test_reparameterize", "reparameterize", "shared|same noise")
def one_noise_per_row(mu, logvar):                       # one eps per row, shared by all latents
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[0], 1)


# --- exercise 2: kl_to_prior
@mistake(D, "test_kl_to_prior", "kl_to_prior", "shape")
def kl_not_summed(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", "averaged over the latents|mean over the latents")
def kl_mean_over_latents(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(dim=1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", "shape")
def kl_sum_wrong_axis(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=0)


@mistake(D, "test_kl_to_prior", "kl_to_prior", "negative")
def kl_wrong_sign(mu, logvar):
    return -0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", r"constant|- 1|−1|-1")
def kl_without_minus_one(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(dim=1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", r"twice|factor 1/2|1/2")
def kl_without_half(mu, logvar):
    return (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", r"standard deviation|sigma\b|variance")
def kl_sigma_for_variance(mu, logvar):                   # exp(logvar / 2) where exp(logvar) belongs
    return 0.5 * (mu.pow(2) + torch.exp(0.5 * logvar) - logvar - 1).sum(dim=1)


@mistake(D, "test_kl_to_prior", "kl_to_prior", "NaN|inf")
def kl_logvar_as_variance(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar - torch.log(logvar) - 1).sum(dim=1)


# --- exercise 3: negative_elbo
@mistake(D, "test_negative_elbo", "negative_elbo", "averaged over the pixels|mean over the pixels|per pixel")
def bce_mean_over_pixels(x, logits, mu, logvar, beta=1.0):
    return (F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)
            + beta * _kl(mu, logvar)).mean()


@mistake(D, "test_negative_elbo", "negative_elbo", "beta")
def beta_ignored(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + _kl(mu, logvar)).mean()


@mistake(D, "test_negative_elbo", "negative_elbo", "beta")
def beta_on_reconstruction(x, logits, mu, logvar, beta=1.0):
    return (beta * _bce(logits, x) + _kl(mu, logvar)).mean()


@mistake(D, "test_negative_elbo", "negative_elbo", "summed over the batch|sum over the batch")
def summed_over_batch(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + beta * _kl(mu, logvar)).sum()


@mistake(D, "test_negative_elbo", "negative_elbo", "sign|subtract")
def kl_subtracted(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) - beta * _kl(mu, logvar)).mean()


@mistake(D, "test_negative_elbo", "negative_elbo", "tuple")
def elbo_returns_terms(x, logits, mu, logvar, beta=1.0):
    recon, kl = _bce(logits, x).mean(), _kl(mu, logvar).mean()
    return recon + beta * kl, recon, kl


@mistake(D, "test_negative_elbo", "negative_elbo", "float")
def elbo_item(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + beta * _kl(mu, logvar)).mean().item()


@mistake(D, "test_negative_elbo", "negative_elbo", "sigmoid")
def elbo_sigmoid_twice(x, logits, mu, logvar, beta=1.0):
    return (_bce(torch.sigmoid(logits), x) + beta * _kl(mu, logvar)).mean()


@mistake(D, "test_negative_elbo", "negative_elbo", "raised|logits|probabilit")
def elbo_bce_on_logits(x, logits, mu, logvar, beta=1.0):   # F.binary_cross_entropy expects probabilities
    recon = F.binary_cross_entropy(logits, x, reduction="none").flatten(1).sum(1)
    return (recon + beta * _kl(mu, logvar)).mean()


# --- exercise 4: total_correlation
def _pair(z, mu, logvar, std=False):
    scale = logvar[None].exp().sqrt() if std else logvar[None].exp()
    return -0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / scale)


@mistake(D, "test_total_correlation", "total_correlation", r"log\(N|constant|dataset_size")
def tc_without_log_nm(z, mu, logvar, dataset_size):
    pair = _pair(z, mu, logvar)
    return (torch.logsumexp(pair.sum(2), 1) - torch.logsumexp(pair, 1).sum(1)).mean()


@mistake(D, "test_total_correlation", "total_correlation", r"dataset_size|constant|log\(N")
def tc_log_m_only(z, mu, logvar, dataset_size):
    pair, log_m = _pair(z, mu, logvar), math.log(z.shape[0])
    return ((torch.logsumexp(pair.sum(2), 1) - log_m) - (torch.logsumexp(pair, 1) - log_m).sum(1)).mean()


@mistake(D, "test_total_correlation", "total_correlation", "negative|sign|other way round")
def tc_swapped(z, mu, logvar, dataset_size):
    pair, log_nm = _pair(z, mu, logvar), math.log(dataset_size * z.shape[0])
    return ((torch.logsumexp(pair, 1) - log_nm).sum(1) - (torch.logsumexp(pair.sum(2), 1) - log_nm)).mean()


@mistake(D, "test_total_correlation", "total_correlation", r"axis|dim=0|dimension")
def tc_logsumexp_wrong_dim(z, mu, logvar, dataset_size):
    pair, log_nm = _pair(z, mu, logvar), math.log(dataset_size * z.shape[0])
    return ((torch.logsumexp(pair.sum(2), 0) - log_nm) - (torch.logsumexp(pair, 0) - log_nm).sum(1)).mean()


@mistake(D, "test_total_correlation", "total_correlation", r"variance|sigma|standard deviation")
def tc_divides_by_std(z, mu, logvar, dataset_size):
    pair, log_nm = _pair(z, mu, logvar, std=True), math.log(dataset_size * z.shape[0])
    return ((torch.logsumexp(pair.sum(2), 1) - log_nm) - (torch.logsumexp(pair, 1) - log_nm).sum(1)).mean()


@mistake(D, "test_total_correlation", "total_correlation", "shape")
def tc_not_averaged(z, mu, logvar, dataset_size):
    pair, log_nm = _pair(z, mu, logvar), math.log(dataset_size * z.shape[0])
    return (torch.logsumexp(pair.sum(2), 1) - log_nm) - (torch.logsumexp(pair, 1) - log_nm).sum(1)


# --- exercise 5: traversal_correlation
@mistake(D, "test_traversal_correlation", "traversal_correlation", "SignificanceResult")
def spearman_result_object(values, measured):
    from scipy.stats import spearmanr
    return spearmanr(values, measured)


@mistake(D, "test_traversal_correlation", "traversal_correlation", "tuple")
def spearman_tuple(values, measured):
    from scipy.stats import spearmanr
    return tuple(spearmanr(values, measured))


@mistake(D, "test_traversal_correlation", "traversal_correlation", "p-value")
def spearman_p_value(values, measured):
    from scipy.stats import spearmanr
    return float(spearmanr(values, measured)[1])


@mistake(D, "test_traversal_correlation", "traversal_correlation", "Pearson|ranks")
def pearson_instead(values, measured):
    return float(np.corrcoef(values, measured)[0, 1])


@mistake(D, "test_traversal_correlation", "traversal_correlation", r"shape \(2, 2\)|matrix")
def corrcoef_matrix(values, measured):
    from scipy.stats import rankdata
    return np.corrcoef(rankdata(values), rankdata(measured))


@mistake(D, "test_traversal_correlation", "traversal_correlation", "sign")
def spearman_absolute(values, measured):
    from scipy.stats import spearmanr
    return abs(float(spearmanr(values, measured)[0]))


# =========================================================================== 05-measure
M = "05-measure"


def _mi(d, factors):
    from sklearn.metrics import mutual_info_score
    return np.array([[mutual_info_score(factors[:, k], d[:, i]) for k in range(factors.shape[1])]
                     for i in range(d.shape[1])])


def _disc(codes, num_bins=20):
    codes = np.asarray(codes, dtype=float)
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], 1)


def _entropy(factors):
    from sklearn.metrics import mutual_info_score
    return np.array([mutual_info_score(f, f) for f in factors.T])


# --- exercise 1: discretize
@mistake(M, "test_discretize", "discretize", "whole array|per column|each column")
def bins_of_whole_array(codes, num_bins=20):
    codes = np.asarray(codes, dtype=float)
    edges = np.histogram(codes, num_bins)[1][:-1]
    return np.digitize(codes, edges)


@mistake(M, "test_discretize", "discretize", "last edge|up to 21|num_bins \\+ 1")
def keeps_last_edge(codes, num_bins=20):
    codes = np.asarray(codes, dtype=float)
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1]) for c in codes.T], 1)


@mistake(M, "test_discretize", "discretize", "integers")
def float_bins(codes, num_bins=20):
    return _disc(codes, num_bins).astype(float)


@mistake(M, "test_discretize", "discretize", "0 to|start at 1|1 to num_bins")
def zero_based_bins(codes, num_bins=20):
    return _disc(codes, num_bins) - 1


@mistake(M, "test_discretize", "discretize", "whole array|per column|each column|rescaling")
def floor_formula(codes, num_bins=20):
    codes = np.asarray(codes, dtype=float)
    return np.floor((codes - codes.min()) / np.ptp(codes) * num_bins).astype(int)


@mistake(M, "test_discretize", "discretize", "changed the input|in place|in-place")
def bins_into_codes(codes, num_bins=20):
    for i in range(codes.shape[1]):
        codes[:, i] = np.digitize(codes[:, i], np.histogram(codes[:, i], num_bins)[1][:-1])
    return codes.astype(np.int64)


# --- exercise 2: mutual_information
@mistake(M, "test_mutual_information", "mutual_information", "bits|nats")
def mi_in_bits(discrete_codes, factors):
    return _mi(discrete_codes, factors) / np.log(2)


@mistake(M, "test_mutual_information", "mutual_information", "normalised|normalized|adjusted")
def normalised_mi(discrete_codes, factors):
    from sklearn.metrics import normalized_mutual_info_score
    return np.array([[normalized_mutual_info_score(factors[:, k], discrete_codes[:, i])
                      for k in range(factors.shape[1])] for i in range(discrete_codes.shape[1])])


@mistake(M, "test_mutual_information", "mutual_information", "normalised|normalized|adjusted")
def adjusted_mi(discrete_codes, factors):
    from sklearn.metrics import adjusted_mutual_info_score
    return np.array([[adjusted_mutual_info_score(factors[:, k], discrete_codes[:, i])
                      for k in range(factors.shape[1])] for i in range(discrete_codes.shape[1])])


@mistake(M, "test_mutual_information", "mutual_information", "shape|swapped|rows")
def mi_transposed(discrete_codes, factors):
    return _mi(discrete_codes, factors).T


# --- exercise 3: mig
def _mig_from(m, entropy):
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


@mistake(M, "test_mig", "mig", r"entropy|H\(")
def mig_not_normalised(codes, factors, num_bins=20):
    m = _mi(_disc(codes, num_bins), factors)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


@mistake(M, "test_mig", "mig", "runner-up|second")
def mig_best_only(codes, factors, num_bins=20):
    m = _mi(_disc(codes, num_bins), factors)
    return float(np.mean(m.max(0) / _entropy(factors)))


@mistake(M, "test_mig", "mig", "axis|factors instead of|over latents")
def mig_sorted_wrong_axis(codes, factors, num_bins=20):
    m = _mi(_disc(codes, num_bins), factors)
    top = np.sort(m, axis=1)[:, ::-1]
    return float(np.mean((top[:, 0] - top[:, 1]) / _entropy(factors).mean()))


@mistake(M, "test_mig", "mig", "negative|ascending|largest")
def mig_ascending(codes, factors, num_bins=20):
    m = _mi(_disc(codes, num_bins), factors)
    top = np.sort(m, axis=0)
    return float(np.mean((top[0] - top[1]) / _entropy(factors)))


@mistake(M, "test_mig", "mig", "one number")
def mig_per_factor(codes, factors, num_bins=20):
    m = _mi(_disc(codes, num_bins), factors)
    top = np.sort(m, axis=0)[::-1]
    return (top[0] - top[1]) / _entropy(factors)


@mistake(M, "test_mig", "mig", "discreti[sz]")
def mig_without_binning(codes, factors, num_bins=20):
    return _mig_from(_mi(np.asarray(codes), factors), _entropy(factors))


# =========================================================================== 06-interventions
I = "06-interventions"


def _clone_set(z, dim, values):
    out = z.clone()
    out[:, dim] = torch.as_tensor(values, dtype=z.dtype)
    return out


# --- exercise 1: latent_response
@mistake(I, "test_latent_response", "latent_response", "images")
def decode_only(model, z):
    with torch.no_grad():
        return model.decode(z)


@mistake(I, "test_latent_response", "latent_response", "different responses|sample|MEAN")
def sampled_posterior(model, z):
    with torch.no_grad():
        mu, logvar = model.posterior(model.decode(z))
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


@mistake(I, "test_latent_response", "latent_response", r"subtract|R\(z\) - z|minus z")
def response_minus_z(model, z):
    with torch.no_grad():
        return model.encode(model.decode(z)) - z


@mistake(I, "test_latent_response", "latent_response", "tensor")
def response_numpy(model, z):
    with torch.no_grad():
        return model.encode(model.decode(z)).numpy()


@mistake(I, "test_latent_response", "latent_response", "logits")
def encodes_logits(model, z):
    with torch.no_grad():
        return model.encode(model.decode_logits(z))


@mistake(I, "test_latent_response", "latent_response", "tuple")
def returns_posterior_pair(model, z):
    with torch.no_grad():
        return model.posterior(model.decode(z))


# --- exercise 2: intervene
@mistake(I, "test_intervene", "intervene", "in-place|in place")
def intervene_in_place(z, dim, values):
    z[:, dim] = torch.as_tensor(values, dtype=z.dtype)
    return z


@mistake(I, "test_intervene", "intervene", "in-place|in place")
def intervene_alias(z, dim, values):
    out = z
    out[:, dim] = torch.as_tensor(values, dtype=z.dtype)
    return out


@mistake(I, "test_intervene", "intervene", "row")
def intervene_row(z, dim, values):
    out = z.clone()
    out[dim] = torch.as_tensor(values, dtype=z.dtype)
    return out


@mistake(I, "test_intervene", "intervene", "added|replac")
def intervene_adds(z, dim, values):
    out = z.clone()
    out[:, dim] += torch.as_tensor(values, dtype=z.dtype)
    return out


@mistake(I, "test_intervene", "intervene", "single number|plain number|a number")
def intervene_tensor_only(z, dim, values):
    out = z.clone()
    out[:, dim] = values.clone()
    return out


# --- exercise 3: response_matrix
@mistake(I, "test_response_matrix", "response_matrix", "ABSOLUTE")
def mean_abs_matrix(response_fn, z, values):
    base = response_fn(z)
    return torch.stack([(response_fn(_clone_set(z, j, values[:, j])) - base).abs().mean(0)
                        for j in range(z.shape[1])])


@mistake(I, "test_response_matrix", "response_matrix", "swapped")
def transposed_matrix(response_fn, z, values):
    base = response_fn(z)
    return torch.stack([(response_fn(_clone_set(z, j, values[:, j])) - base).pow(2).mean(0).sqrt()
                        for j in range(z.shape[1])]).T


@mistake(I, "test_response_matrix", "response_matrix", r"not compared with R")
def no_subtraction_matrix(response_fn, z, values):
    return torch.stack([response_fn(_clone_set(z, j, values[:, j])).pow(2).mean(0).sqrt()
                        for j in range(z.shape[1])])


@mistake(I, "test_response_matrix", "response_matrix", "wrong axis")
def wrong_axis_matrix(response_fn, z, values):
    base = response_fn(z)
    return torch.stack([(response_fn(_clone_set(z, j, values[:, j])) - base).pow(2).mean(1).sqrt()
                        for j in range(z.shape[1])])


@mistake(I, "test_response_matrix", "response_matrix", "square root")
def mean_square_matrix(response_fn, z, values):
    base = response_fn(z)
    return torch.stack([(response_fn(_clone_set(z, j, values[:, j])) - base).pow(2).mean(0)
                        for j in range(z.shape[1])])


@mistake(I, "test_response_matrix", "response_matrix", "changed the input|in-place|in place")
def matrix_writes_into_z(response_fn, z, values):
    base = response_fn(z)
    rows = []
    for j in range(z.shape[1]):
        z_int = z
        z_int[:, j] = values[:, j]
        rows.append((response_fn(z_int) - base).pow(2).mean(0).sqrt())
    return torch.stack(rows)


# --- exercise 4: causal_score
@mistake(I, "test_causal_score", "causal_score", "over latents instead of over factors")
def causal_wrong_axis(cond):
    cond = np.asarray(cond, dtype=float)
    return float(cond.max(axis=1).sum() / cond.sum())


@mistake(I, "test_causal_score", "causal_score", "total|divided")
def causal_not_normalised(cond):
    return float(np.asarray(cond, dtype=float).max(axis=0).sum())


@mistake(I, "test_causal_score", "causal_score", "mean|average")
def causal_mean_of_maxima(cond):
    return float(np.asarray(cond, dtype=float).max(axis=0).mean())


@mistake(I, "test_causal_score", "causal_score", "per latent|each latent's own|ratio")
def causal_mean_of_ratios(cond):
    cond = np.asarray(cond, dtype=float)
    return float((cond.max(axis=0) / cond.sum(axis=0)).mean())


@mistake(I, "test_causal_score", "causal_score", "one number")
def causal_array(cond):
    cond = np.asarray(cond, dtype=float)
    return cond.max(axis=0) / cond.sum()


# =========================================================================== 07-where-what
W = "07-where-what"


def _interval(a, b):
    return torch.softmax(a, -1).cumsum(-1) * torch.softmax(b, -1).flip(-1).cumsum(-1).flip(-1)


# --- exercise 1: soft_interval
@mistake(W, "test_soft_interval", "soft_interval", r"P\(end <= i\)")
def end_not_flipped(start_logits, end_logits):
    return start_logits.softmax(-1).cumsum(-1) * end_logits.softmax(-1).cumsum(-1)


@mistake(W, "test_soft_interval", "soft_interval", r"P\(end > i\)")
def end_one_minus(start_logits, end_logits):
    return start_logits.softmax(-1).cumsum(-1) * (1 - end_logits.softmax(-1).cumsum(-1))


@mistake(W, "test_soft_interval", "soft_interval", "sigmoid")
def sigmoid_interval(start_logits, end_logits):
    return torch.sigmoid(start_logits).cumsum(-1) * torch.sigmoid(end_logits).flip(-1).cumsum(-1).flip(-1)


@mistake(W, "test_soft_interval", "soft_interval", "axis|dim=0|dimension")
def interval_first_axis(start_logits, end_logits):
    return torch.softmax(start_logits, 0).cumsum(0) * torch.softmax(end_logits, 0).flip(0).cumsum(0).flip(0)


@mistake(W, "test_soft_interval", "soft_interval", "cumulat|cumsum|positions 2..5")
def no_cumsum(start_logits, end_logits):
    return torch.softmax(start_logits, -1) * torch.softmax(end_logits, -1)


# --- exercise 2: compose
@mistake(W, "test_compose", "compose", "base is missing")
def compose_no_base(masks, effects, base):
    return (masks[None, :, None] * effects[:, :, :, None, None]).sum(dim=1)


@mistake(W, "test_compose", "compose", "mean|average")
def compose_mean(masks, effects, base):
    return base + (masks[None, :, None] * effects[:, :, :, None, None]).mean(dim=1)


@mistake(W, "test_compose", "compose", "shape")
def compose_not_summed(masks, effects, base):
    return base + masks[None, :, None] * effects[:, :, :, None, None]


@mistake(W, "test_compose", "compose", "channels|layout|does not match")
def compose_bad_layout(masks, effects, base):
    return base + torch.einsum("dhw,bdc->bhwc", masks, effects).reshape(effects.shape[0], *base.shape)


# --- exercise 3: perturbation_loss
def _pl_parts(decode, recogniser, z, dims, eps):
    z2 = z + eps[:, None] * F.one_hot(dims, z.shape[1]).to(z.dtype)
    return recogniser(decode(z), decode(z2))


@mistake(W, "test_perturbation_loss", "perturbation_loss", "every latent")
def perturbs_every_latent(decode, recogniser, z, dims, eps):
    logits, eps_hat = recogniser(decode(z), decode(z + eps[:, None]))
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps)


@mistake(W, "test_perturbation_loss", "perturbation_loss", "eps term is missing")
def cross_entropy_only(decode, recogniser, z, dims, eps):
    logits, _ = _pl_parts(decode, recogniser, z, dims, eps)
    return F.cross_entropy(logits, dims)


@mistake(W, "test_perturbation_loss", "perturbation_loss", "cross-entropy term is missing")
def mse_only(decode, recogniser, z, dims, eps):
    _, eps_hat = _pl_parts(decode, recogniser, z, dims, eps)
    return F.mse_loss(eps_hat, eps)


@mistake(W, "test_perturbation_loss", "perturbation_loss", r"\|eps\|")
def absolute_eps(decode, recogniser, z, dims, eps):
    logits, eps_hat = _pl_parts(decode, recogniser, z, dims, eps)
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps.abs())


@mistake(W, "test_perturbation_loss", "perturbation_loss", "swapped|order")
def images_swapped(decode, recogniser, z, dims, eps):
    z2 = z + eps[:, None] * F.one_hot(dims, z.shape[1]).to(z.dtype)
    logits, eps_hat = recogniser(decode(z2), decode(z))
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps)


@mistake(W, "test_perturbation_loss", "perturbation_loss", "summed|sum over the batch")
def summed_losses(decode, recogniser, z, dims, eps):
    logits, eps_hat = _pl_parts(decode, recogniser, z, dims, eps)
    return F.cross_entropy(logits, dims, reduction="sum") + F.mse_loss(eps_hat, eps, reduction="sum")


@mistake(W, "test_perturbation_loss", "perturbation_loss", "tuple")
def loss_and_logs(decode, recogniser, z, dims, eps):
    logits, eps_hat = _pl_parts(decode, recogniser, z, dims, eps)
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps), {}


# --- exercise 4: traversal_length
def _traversal_images(decode, z0, dim, span, steps):
    codes = z0.repeat(steps, 1)
    codes[:, dim] = torch.linspace(-span, span, steps)
    with torch.no_grad():
        return decode(codes).flatten(1)


@mistake(W, "test_traversal_length", "traversal_length", "squared distances")
def squared_steps(decode, z0, dim, span=2.0, steps=50):
    x = _traversal_images(decode, z0, dim, span, steps)
    return float((x[1:] - x[:-1]).pow(2).mean(1).sum())


@mistake(W, "test_traversal_length", "traversal_length", "steps")
def one_step_too_many(decode, z0, dim, span=2.0, steps=50):
    x = _traversal_images(decode, z0, dim, span, steps + 1)
    return float((x[1:] - x[:-1]).pow(2).mean(1).sqrt().sum())


@mistake(W, "test_traversal_length", "traversal_length", "averaged|mean of the distances|add the distances")
def mean_of_steps(decode, z0, dim, span=2.0, steps=50):
    x = _traversal_images(decode, z0, dim, span, steps)
    return float((x[1:] - x[:-1]).pow(2).mean(1).sqrt().mean())


@mistake(W, "test_traversal_length", "traversal_length", "end points|first and last|neighbour")
def ends_only(decode, z0, dim, span=2.0, steps=50):
    x = _traversal_images(decode, z0, dim, span, steps)
    return float((x[-1] - x[0]).pow(2).mean().sqrt())


@mistake(W, "test_traversal_length", "traversal_length", "absolute|RMS")
def mean_abs_steps(decode, z0, dim, span=2.0, steps=50):
    x = _traversal_images(decode, z0, dim, span, steps)
    return float((x[1:] - x[:-1]).abs().mean(1).sum())


@mistake(W, "test_traversal_length", "traversal_length", "changed the input|in place|in-place")
def writes_into_z0(decode, z0, dim, span=2.0, steps=50):
    images = []
    for v in torch.linspace(-span, span, steps):
        z0[dim] = v
        with torch.no_grad():
            images.append(decode(z0[None]).flatten(1)[0])
    x = torch.stack(images)
    return float((x[1:] - x[:-1]).pow(2).mean(1).sqrt().sum())


# =========================================================================== quizzes and blanks
QUIZ_KEYS = {
    D: {"q1": "b", "q2": "c", "blank": "factor"},
    M: {"q1": "c", "q2": "b", "blank": "entropy"},
    I: {"q1": "b", "q2": "c", "blank": "contractive"},
    W: {"q1": "b", "q2": "d", "blank": "perceptual"},
}
WRONG_BLANKS = {D: ["dimension", "feature"], M: ["information", "variance"], I: ["expansive", "smooth"],
                W: ["euclidean", "pixel"]}


def _marker(variable: str, blank: bool) -> str:
    return (f'# Your answer: a word in quotes, e.g. {variable} = "word"' if blank
            else f'# Your answer: one letter in quotes, e.g. {variable} = "a"')


def _answer_entries(chapter: str, grade_id: str, variable: str, wrong: list[str], blank: bool) -> list[Entry]:
    ch, marker = CHAPTERS[chapter], _marker(variable, blank)
    other = _marker("answer_q9", blank)
    rejected = "not an accepted answer" if blank else "not the expected answer"
    entries = [Entry(chapter, grade_id, variable, f"wrong-{w}", f'{marker}\n{variable} = "{w}"', rejected)
               for w in wrong]
    entries += [
        Entry(chapter, grade_id, variable, "no-quotes", f"{marker}\n{variable} = {wrong[0]}", r"NameError.*quotes"),
        Entry(chapter, grade_id, variable, "no-quotes-after-a-right-answer", f"{marker}\n{variable} = {wrong[0]}",
              r"NameError.*quotes", earlier=(ch.solution(grade_id),)),
        Entry(chapter, grade_id, variable, "stub-left-answer-in-another-cell", ch.stub(grade_id), "not answered yet",
              others=(f'{other}\n{variable} = "{wrong[0]}"',)),
        Entry(chapter, grade_id, variable, "misspelt-variable", f'{marker}\n{variable}s = "{wrong[0]}"',
              f"did not set `{variable}`"),
        Entry(chapter, grade_id, variable, "not-a-string", f"{marker}\n{variable} = 2", "string|quotes"),
    ]
    if blank:
        entries.append(Entry(chapter, grade_id, variable, "plural",
                             f'{marker}\n{variable} = "{QUIZ_KEYS[chapter]["blank"]}s"', "singular"))
    else:
        entries.append(Entry(chapter, grade_id, variable, "two-letters", f'{marker}\n{variable} = "a, b"',
                             "single letter"))
    return entries


for _chapter, _key in QUIZ_KEYS.items():
    for _q in ("q1", "q2"):
        CATALOGUE += _answer_entries(_chapter, f"test_{_q}", f"answer_{_q}",
                                     [c for c in "abcd" if c != _key[_q]], blank=False)
    CATALOGUE += _answer_entries(_chapter, "test_blank", "answer_blank", WRONG_BLANKS[_chapter], blank=True)


def _right_forms(chapter: str) -> list[tuple[str, str, str]]:
    out = []
    for q in ("q1", "q2"):
        letter, variable = QUIZ_KEYS[chapter][q], f"answer_{q}"
        out += [(f"test_{q}", variable, form) for form in (letter, letter.upper(), f" {letter} ", f"({letter})")]
    word = QUIZ_KEYS[chapter]["blank"]
    out += [("test_blank", "answer_blank", form) for form in (word, word.upper(), f" {word.capitalize()}. ")]
    return out


RIGHT_ANSWERS = [(ch, gid, var, form) for ch in QUIZ_KEYS for gid, var, form in _right_forms(ch)]


# =========================================================================== the tests
CODE_EXERCISES = {
    D: ["reparameterize", "kl_to_prior", "negative_elbo", "total_correlation", "traversal_correlation"],
    M: ["discretize", "mutual_information", "mig"],
    I: ["latent_response", "intervene", "response_matrix", "causal_score"],
    W: ["soft_interval", "compose", "perturbation_loss", "traversal_length"],
}


def test_every_graded_cell_is_catalogued_and_every_code_exercise_has_three_mistakes():
    for chapter, names in CODE_EXERCISES.items():
        for name in names:
            count = sum(1 for m in CATALOGUE if m.chapter == chapter and m.name == name)
            assert count >= 3, f"{chapter} {name}: {count} mistakes in the catalogue"
        graded = set(CHAPTERS[chapter].grade_ids())
        covered = {m.grade_id for m in CATALOGUE if m.chapter == chapter}
        assert graded == covered, f"{chapter}: graded cells without a catalogue entry: {sorted(graded - covered)}"


@pytest.mark.parametrize("chapter,grade_id", [(ch, gid) for ch in CHAPTERS for gid in CHAPTERS[ch].grade_ids()])
def test_solution_passes_both_and_stub_fails(chapter, grade_id):
    assert_reference_passes(CHAPTERS[chapter], grade_id)


@pytest.mark.parametrize("chapter,grade_id,variable,form", RIGHT_ANSWERS,
                         ids=[f"{c[:2]}-{g}-{f!r}" for c, g, _, f in RIGHT_ANSWERS])
def test_right_answers_in_other_forms_pass_both(chapter, grade_id, variable, form):
    out = CHAPTERS[chapter].grade(grade_id, f'{_marker(variable, grade_id == "test_blank")}\n{variable} = "{form}"')
    assert out.public_passed, out.public_output
    assert out.hidden_passed, repr(out.hidden_error)


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.id for e in CATALOGUE])
def test_no_false_green(entry: Entry):
    """The public check fails every catalogued mistake with a ❌ line naming it, and always when the
    hidden tests fail (``assert_no_false_green``). For code, the ❌ line itself names the mistake."""
    out = assert_no_false_green(CHAPTERS[entry.chapter], CellMistake(
        entry.grade_id, entry.label, entry.keyword, source=cell_source(entry),
        others=entry.others, earlier=entry.earlier))
    if callable(entry.answer):
        first, _, hint = out.message.partition("\n")
        assert re.search(entry.keyword, first, re.IGNORECASE), f"the ❌ line does not name it: {out.message}"
        assert "💡" in hint, f"no hint: {out.message}"
