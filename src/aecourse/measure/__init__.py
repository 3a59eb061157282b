"""Supervised disentanglement metrics (chapter 05), with disentanglement_lib's definitions and defaults.

Defaults are disentanglement_lib's (SAP on unstandardised latents; liblinear one-vs-rest logistic
regressions for the beta-VAE score and explicitness); other settings are keyword options, named as
such in each docstring, and each file lists where it differs from the library.

The metrics follow Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations" (ICML,
https://arxiv.org/abs/1811.12359) and its library
``google-research/disentanglement_lib`` (files under
``disentanglement_lib/evaluation/metrics/``). The code here is written
afresh on NumPy and scikit-learn; as there, one metric lives in one file,
whose docstring names the paper, the library file, the defaults, and where this
version differs:

* ``ground_truth``: :class:`GroundTruthData`, :func:`sample_codes` (disentanglement_lib
  ``data/ground_truth/ground_truth_data.py``, ``evaluation/metrics/utils.py``);
* ``discrete``: :func:`histogram_discretize`, :func:`discrete_mutual_info`,
  :func:`discrete_entropy` (``evaluation/metrics/utils.py``);
* ``mig``: :func:`mig` (``evaluation/metrics/mig.py``);
* ``factor_vae``: :func:`factor_vae_score` (``evaluation/metrics/factor_vae.py``), and
  :func:`factor_vae_sweep` (the same at several prune thresholds);
* ``beta_vae``: :func:`beta_vae_score` (``evaluation/metrics/beta_vae.py``);
* ``dci``: :func:`dci` (``evaluation/metrics/dci.py``);
* ``sap``: :func:`sap` (``evaluation/metrics/sap_score.py``);
* ``modularity``: :func:`modularity_explicitness` (``evaluation/metrics/modularity_explicitness.py``);
* ``seeds``: :func:`bootstrap_interval` and :func:`rank_first_frequency`, for scores over several
  seeds (not a metric, and not in disentanglement_lib).

:data:`METRICS` lists the metrics by name with their kind and a short description. Import
the public names from here (``from aecourse import measure``; ``measure.mig(codes, factors)``):
``measure.mig``, ``measure.dci`` and ``measure.sap`` are the functions, which hide the
submodules of the same names (``from aecourse.measure.dci import ...`` still reaches the module).

Conventions
-----------
* ``codes`` are ``(n, num_latents)`` floats (one row per observation, e.g.
  the encoder means); ``factors`` are ``(n, num_factors)`` non-negative
  discrete integers (class indices of the ground-truth factors).
  disentanglement_lib stores both transposed; here rows are samples.
* Every function returns a ``dict`` of plain floats / NumPy arrays.
* ``rng`` may be an ``int`` seed, ``None`` or a ``numpy.random.Generator``.

Three kinds of metric
---------------------
*Observational* metrics need only a sample of codes with their factors and
take arrays: :func:`mig` one sample, :func:`dci`, :func:`sap` and
:func:`modularity_explicitness` a training and a test sample. Use
:func:`sample_codes` to draw such a sample from a dataset.

*Interventional* metrics need batches in which one factor is held fixed,
so they take a **dataset** and a **representation function**:
:func:`beta_vae_score`, :func:`factor_vae_score`. The dataset protocol
(:class:`GroundTruthData`) is disentanglement_lib's, minus TensorFlow:

* ``factor_sizes``: sequence of ints, the number of values of each factor;
* ``sample_factors(n, rng) -> (n, k)`` int array of factor classes;
* ``sample_observations_from_factors(factors, rng) -> observations`` (any
  array-like of length ``n`` that ``represent`` accepts).

``represent(observations) -> (n, num_latents)`` maps observations to codes;
:func:`aecourse.contracts.encoder_fn` makes one from a model
(``represent = encoder_fn(model)``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from ..contracts import Represent
from .beta_vae import beta_vae_score
from .dci import dci
from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .factor_vae import factor_vae_score, factor_vae_sweep
from .ground_truth import GroundTruthData, sample_codes
from .mig import mig
from .modularity import modularity_explicitness
from .sap import sap
from .seeds import bootstrap_interval, rank_first_frequency

__all__ = [
    "GroundTruthData",
    "Represent",
    "sample_codes",
    "histogram_discretize",
    "discrete_mutual_info",
    "discrete_entropy",
    "mig",
    "factor_vae_score",
    "factor_vae_sweep",
    "beta_vae_score",
    "dci",
    "sap",
    "modularity_explicitness",
    "bootstrap_interval",
    "rank_first_frequency",
    "Metric",
    "METRICS",
]


class Metric(NamedTuple):
    """One entry of :data:`METRICS`.

    ``kind`` says how to call ``function``:

    * ``"sample"``: ``function(codes, factors)``;
    * ``"train_test"``: ``function(codes_train, factors_train, codes_test, factors_test)``;
    * ``"interventional"``: ``function(data, represent, rng)``.

    ``scores`` are the keys of the headline numbers in the returned dict.
    """

    function: Callable[..., dict]
    kind: str
    scores: tuple[str, ...]
    description: str


#: The metrics by name, in the order of chapter 05's table.
METRICS: dict[str, Metric] = {
    "mig": Metric(mig, "sample", ("mig",),
                  "Mutual Information Gap (Chen et al. 2018): per factor, the gap in mutual information "
                  "between its two most informative latents, over its entropy"),
    "factor_vae": Metric(factor_vae_score, "interventional", ("eval_accuracy",),
                         "FactorVAE score (Kim & Mnih 2018): a majority vote guesses the fixed factor from "
                         "the latent whose variance drops most"),
    "beta_vae": Metric(beta_vae_score, "interventional", ("eval_accuracy",),
                       "beta-VAE score (Higgins et al. 2017): a logistic regression guesses the fixed factor "
                       "from mean absolute code differences"),
    "dci": Metric(dci, "train_test", ("disentanglement", "completeness", "informativeness_test"),
                  "DCI (Eastwood & Williams 2018): disentanglement, completeness and informativeness "
                  "from gradient-boosted trees' feature importances"),
    "sap": Metric(sap, "train_test", ("sap",),
                  "SAP (Kumar et al. 2018): per factor, the accuracy gap between the two latents that "
                  "best predict it alone"),
    "modularity_explicitness": Metric(modularity_explicitness, "train_test",
                                      ("modularity", "explicitness_test"),
                                      "Modularity and explicitness (Ridgeway & Mozer 2018): does each latent "
                                      "inform about one factor only; can a linear model read each factor off"),
}
