"""aecourse: a Jupyter-first course on dense, sparse and disentangled autoencoders.

The library is the course's appendix, one module per idea:

* :mod:`aecourse.data`    datasets that need no network; the package's ``load(name)`` / ``available_datasets()``
  registry over ``containers`` (LabelledImages, NamedVectors, FactorInfo), ``glyphs`` (procedural glyph
  digits), ``digits`` (sklearn digits, MNIST files), ``sparse`` (the seed's sparse patterns, synthetic
  sparse features) and ``dsprites`` (a faithful procedural dSprites: factors, index arithmetic, the
  original's geometry)
* :mod:`aecourse.contracts` input validation (one message shape), ``LossFn``, the model protocols, ``encoder_fn``
* :mod:`aecourse.models`  dense and convolutional autoencoders
* :mod:`aecourse.sae`     the sparse autoencoder: TopK, L1 and KL losses, dead-unit resampling, recipes, ``train_sae``
* :mod:`aecourse.vae`     VAE, beta-VAE, annealed, FactorVAE and beta-TCVAE objectives (reparameterisation, KL,
  total correlation)
* :mod:`aecourse.masks`   the masked decoder: each latent acts through a learned soft rectangle
* :mod:`aecourse.wherewhat` chapter 07: masks (re-exported), perturbation simplicity and its objectives, TPL
* :mod:`aecourse.objectives` every objective by name (``make_objective``), above vae and wherewhat
* :mod:`aecourse.train`   the fit loop, devices, seeding, CPU threads (imports no model module)
* :mod:`aecourse.checkpoints` the one registry of model classes, ``build_model``, save and load
* :mod:`aecourse.metrics` sparsity, reconstruction and feature-recovery measures
* :mod:`aecourse.measure` chapter 05's supervised disentanglement metrics, one per file as in disentanglement_lib
  (``ground_truth``, ``discrete``, ``mig``, ``factor_vae``, ``beta_vae``, ``dci``, ``sap``, ``modularity``;
  the registry ``measure.METRICS``)
* :mod:`aecourse.morphometry` Morpho-MNIST stroke thickness, slant, length and area of (decoded) digits
* :mod:`aecourse.zoo`     small pretrained VAEs with sha256, retrained by ``aecourse zoo train``
* :mod:`aecourse.viz`     figures: ``figures`` (grids, reconstructions, scatters, curves), ``traversals``
  (decode_images, traversal grids; decode_function, model_device), ``heatmaps`` (matrices, response
  maps), ``sparse`` (the sparse chapters' figures)
* :mod:`aecourse.widgets` ipywidgets, one file each: ``activation_table`` (the sparse activation table),
  ``traversal`` (the live latent traversal), ``explorer`` (the intervention explorer), ``standing`` (where
  you stand, in 00-setup); ``common``
* :mod:`aecourse.interventions` chapter 06's interventional assays (latent responses, response matrices and maps)
* :mod:`aecourse.checks`  the public checks behind every exercise
* :mod:`aecourse.standing` which exercises' public checks passed, and when (a local record; ``aecourse progress``)
* :mod:`aecourse.env`     the environment report
* :mod:`aecourse.release`, :mod:`aecourse.grading`, :mod:`aecourse.cli`  course tooling (nbgrader)
"""

import os as _os

__version__ = "0.1.0"

# Results that do not depend on the thread count. MKL (torch's CPU BLAS on x86) may split a matrix product's
# reduction over its threads, so one thread and two round differently: on an AVX-512 machine a (64, 784)
# linear layer differs in the last bit, and training drifts from there. Its strict conditional numerical
# reproducibility mode makes ?gemm bit-identical whatever the thread count, at no measurable cost on the
# course's models (train.TrainingThreads changes the count while training; tests/test_threads.py checks the
# bits). MKL reads the variable at its first call, which is after `import torch` and before any product, so
# setting it when aecourse is imported works unless torch has already computed; a value you set wins.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
