"""No false green in chapters 04-07: a catalogue of plausible wrong answers, graded twice.

Every entry is a typical mistake for one graded cell of ``solutions/<chapter>/<chapter>.ipynb``. The
test runs the cell's public part (what the learner sees) and its ``### BEGIN HIDDEN TESTS`` part (what
nbgrader grades) against the wrong answer, exactly as the notebook would, in a namespace made by the
chapter's own setup cells. Whenever the hidden tests fail, the public check must fail too, as a
:class:`~aecourse.checks.CheckFailed` (a ❌ line, never a traceback from inside the checker) whose
message names the mistake (the entry's keyword). The notebook's own solution must pass both, and so
must the right answers written in other forms (``"B"``, ``" (b) "``, ...).

Only the inputs the checks and hidden tests need are built (the import cell, the cells that make the
globals the hidden tests read, the zoo's shipped models), so the whole file runs in well under a minute.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aecourse.checks import CheckFailed

REPO = Path(__file__).resolve().parents[1]
HIDDEN = "### BEGIN HIDDEN TESTS"


# --------------------------------------------------------------------------- reading the notebooks
@lru_cache(maxsize=None)
def _cells(chapter: str) -> tuple[dict, ...]:
    nb = json.loads((REPO / "solutions" / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return tuple(nb["cells"])


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _graded(chapter: str, grade_id: str) -> str:
    for cell in _cells(chapter):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return _source(cell)
    raise KeyError(f"{chapter} has no cell {grade_id}")


def test_parts(chapter: str, grade_id: str) -> tuple[str, str]:
    """The public part and the hidden part of a test cell."""
    source = _graded(chapter, grade_id)
    public, _, hidden = source.partition(HIDDEN)
    hidden = hidden.split("### END HIDDEN TESTS")[0]
    assert hidden.strip(), f"{chapter}/{grade_id} has no hidden tests"
    return public, hidden


test_parts.__test__ = False  # a helper, not a pytest test


def solution_source(chapter: str, grade_id: str) -> str:
    """The solution cell with nbgrader's markers removed (the answer the notebook ships)."""
    lines = [line for line in _graded(chapter, grade_id).splitlines() if "### BEGIN SOLUTION" not in line
             and "### END SOLUTION" not in line]
    return "\n".join(lines)


def solution_lines(chapter: str, grade_id: str) -> list[str]:
    """The solution's code lines long enough to count as giving the answer away."""
    answer_id = grade_id.replace("test_", "ex_", 1)
    lines = [line.split("#")[0].strip() for line in solution_source(chapter, answer_id).splitlines()]
    return [line for line in lines if len(line) >= 20 and not line.startswith(("def ", "from ", "import ", '"""'))]


def _cell_containing(chapter: str, text: str) -> str:
    found = [_source(c) for c in _cells(chapter) if c["cell_type"] == "code" and text in _source(c)]
    assert len(found) == 1, f"{chapter}: expected one code cell containing {text!r}, found {len(found)}"
    return found[0]


@lru_cache(maxsize=None)
def base_namespace(chapter: str) -> dict:
    """The globals a chapter's test cells see: its import cell plus the cells the hidden tests read from."""
    env: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(_source(_cells(chapter)[1]), f"{chapter}-imports", "exec"), env)
    if chapter == "05-measure":
        exec(_cell_containing(chapter, "toy_codes = {"), env)        # factors, toy_codes
    elif chapter == "06-interventions":
        exec(_cell_containing(chapter, "posterior = {label"), env)   # models, posterior
    elif chapter == "07-where-what":
        exec('where = zoo.load("dsprites_where", retrain=False)', env)
    return env


# --------------------------------------------------------------------------- grading one answer
@dataclass
class Outcome:
    public_failed: bool
    public_message: str
    public_crashed: str | None   # the exception, when the public check raised something other than CheckFailed
    hidden_failed: bool
    hidden_error: str


def grade(chapter: str, grade_id: str, name: str, answer: Any) -> Outcome:
    """Run the public and the hidden part of a test cell with ``name = answer``."""
    public, hidden = test_parts(chapter, grade_id)
    outcome = Outcome(False, "", None, False, "")
    env = dict(base_namespace(chapter))
    if answer is not _UNSET:
        env[name] = answer
    torch.manual_seed(0)
    try:
        exec(compile(public, f"{grade_id}-public", "exec"), env)
    except CheckFailed as exc:
        outcome.public_failed, outcome.public_message = True, str(exc)
    except Exception as exc:  # noqa: BLE001 - a crash inside the check is what this test looks for
        outcome.public_failed, outcome.public_crashed = True, f"{type(exc).__name__}: {exc}"
    env = dict(base_namespace(chapter))
    if answer is not _UNSET:
        env[name] = answer
    torch.manual_seed(0)
    # The hidden part runs in the same cell, after the public part's imports (and its check, which
    # fails the cell on its own when it fails; here we want to know what the hidden tests say alone).
    imports = "\n".join(line for line in public.splitlines() if line.startswith(("from ", "import ")))
    try:
        exec(compile(imports + "\n" + hidden, f"{grade_id}-hidden", "exec"), env)
    except Exception as exc:  # noqa: BLE001 - AssertionError or any error fails the graded cell
        outcome.hidden_failed, outcome.hidden_error = True, f"{type(exc).__name__}: {exc}"
    return outcome


class _Unset:
    def __repr__(self) -> str:
        return "<not set>"


_UNSET = _Unset()


@dataclass(frozen=True)
class Mistake:
    chapter: str
    grade_id: str
    name: str           # the global the test cell reads (the function or the answer variable)
    label: str          # what the mistake is, for the test id
    answer: Any
    keyword: str        # a regular expression the public check's message must contain (case-insensitive)

    @property
    def id(self) -> str:
        return f"{self.chapter[:2]}-{self.grade_id}-{self.label}"


CATALOGUE: list[Mistake] = []


def mistake(chapter: str, grade_id: str, name: str, keyword: str, label: str | None = None):
    """Decorator: register a wrong implementation of ``name``."""
    def register(fn: Callable) -> Callable:
        CATALOGUE.append(Mistake(chapter, grade_id, name, label or fn.__name__, fn, keyword))
        return fn
    return register


def wrong_value(chapter: str, grade_id: str, name: str, label: str, answer: Any, keyword: str) -> None:
    CATALOGUE.append(Mistake(chapter, grade_id, name, label, answer, keyword))


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
    W: {"q1": "b", "q2": "a", "blank": "perceptual"},
}
WRONG_BLANKS = {
    D: ["dimension", "feature"],
    M: ["information", "variance"],
    I: ["expansive", "smooth"],
    W: ["euclidean", "pixel"],
}

for _chapter, _key in QUIZ_KEYS.items():
    for _q in ("q1", "q2"):
        _var, _gid = f"answer_{_q}", f"test_{_q}"
        for _letter in "abcd":
            if _letter != _key[_q]:
                wrong_value(_chapter, _gid, _var, f"letter-{_letter}", _letter, "not the expected answer")
        wrong_value(_chapter, _gid, _var, "two-letters", _key[_q] + "a", "not one of|single letter")
        wrong_value(_chapter, _gid, _var, "unanswered", _UNSET, "not answered")
        wrong_value(_chapter, _gid, _var, "empty", "", "not answered")
        wrong_value(_chapter, _gid, _var, "not-a-string", 2, "string")
    for _word in WRONG_BLANKS[_chapter]:
        wrong_value(_chapter, "test_blank", "answer_blank", _word, _word, "not an accepted answer")
    wrong_value(_chapter, "test_blank", "answer_blank", "plural", _key["blank"] + "s", "singular")
    wrong_value(_chapter, "test_blank", "answer_blank", "unanswered", _UNSET, "not answered")
    wrong_value(_chapter, "test_blank", "answer_blank", "not-a-string", 1, "string")


def _right_forms(letter: str) -> list[str]:
    return [letter, letter.upper(), f" {letter} ", f"({letter})", f"{letter})"]


RIGHT_ANSWERS: list[tuple[str, str, str, Any]] = []
for _chapter, _key in QUIZ_KEYS.items():
    for _q in ("q1", "q2"):
        RIGHT_ANSWERS += [(_chapter, f"test_{_q}", f"answer_{_q}", form) for form in _right_forms(_key[_q])]
    RIGHT_ANSWERS += [(_chapter, "test_blank", "answer_blank", form)
                      for form in (_key["blank"], _key["blank"].upper(), f" {_key['blank'].capitalize()}. ")]


# =========================================================================== the tests
CODE_EXERCISES = {
    D: ["reparameterize", "kl_to_prior", "negative_elbo", "total_correlation", "traversal_correlation"],
    M: ["discretize", "mutual_information", "mig"],
    I: ["latent_response", "intervene", "response_matrix", "causal_score"],
    W: ["soft_interval", "compose", "perturbation_loss", "traversal_length"],
}


def test_every_code_exercise_has_at_least_three_mistakes():
    for chapter, names in CODE_EXERCISES.items():
        for name in names:
            count = sum(1 for m in CATALOGUE if m.chapter == chapter and m.name == name)
            assert count >= 3, f"{chapter} {name}: {count} mistakes in the catalogue"
    graded = {(ch, c["metadata"]["nbgrader"]["grade_id"]) for ch in CODE_EXERCISES for c in _cells(ch)
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    covered = {(m.chapter, m.grade_id) for m in CATALOGUE}
    assert graded <= covered, f"graded cells without a catalogue entry: {sorted(graded - covered)}"


@pytest.mark.parametrize("chapter,name", [(ch, n) for ch, names in CODE_EXERCISES.items() for n in names])
def test_the_notebook_solution_passes_both(chapter, name, capsys):
    env = dict(base_namespace(chapter))
    for other in CODE_EXERCISES[chapter]:       # later solutions may use imports of earlier answer cells
        exec(solution_source(chapter, f"ex_{other}"), env)
    outcome = grade(chapter, f"test_{name}", name, env[name])
    assert not outcome.public_failed, outcome.public_message or outcome.public_crashed
    assert not outcome.hidden_failed, outcome.hidden_error
    assert "public checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("chapter,grade_id,name,answer", RIGHT_ANSWERS,
                         ids=[f"{c[:2]}-{g}-{a!r}" for c, g, _, a in RIGHT_ANSWERS])
def test_right_answers_in_other_forms_pass_both(chapter, grade_id, name, answer, capsys):
    outcome = grade(chapter, grade_id, name, answer)
    assert not outcome.public_failed, outcome.public_message or outcome.public_crashed
    assert not outcome.hidden_failed, outcome.hidden_error


@pytest.mark.parametrize("m", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_no_false_green(m: Mistake, capsys):
    """The public check fails every catalogued mistake with a ❌ line naming it, and always when the
    hidden tests fail."""
    outcome = grade(m.chapter, m.grade_id, m.name, m.answer)
    assert outcome.public_crashed is None, f"the public check crashed instead of explaining: {outcome.public_crashed}"
    if outcome.hidden_failed:
        assert outcome.public_failed, f"FALSE GREEN: hidden tests fail ({outcome.hidden_error}), public check passed"
    assert outcome.public_failed, "the public check passed a catalogued mistake"
    for line in solution_lines(m.chapter, m.grade_id):
        assert line not in outcome.public_message, f"the message prints a line of the solution: {line!r}"
    first = outcome.public_message.splitlines()[0]
    assert first.startswith("❌"), outcome.public_message
    if callable(m.answer):
        assert "💡" in outcome.public_message, f"no hint: {outcome.public_message}"
    assert re.search(m.keyword, first, re.IGNORECASE), \
        f"the ❌ line does not name the mistake ({m.keyword!r}): {outcome.public_message}"
