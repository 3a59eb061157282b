"""aecourse: a Jupyter-first course on dense, sparse and disentangled autoencoders.

The library is the course's appendix, one module per idea:

* :mod:`aecourse.data`    datasets that need no network (glyph digits, sklearn digits, MNIST files,
  the seed's sparse patterns, synthetic sparse features)
* :mod:`aecourse.dsprites` a faithful procedural dSprites (factors, index arithmetic, the original's geometry)
* :mod:`aecourse.models`  autoencoders: dense, convolutional, sparse (L1, KL, TopK)
* :mod:`aecourse.vae`     VAE, beta-VAE and beta-TCVAE objectives (reparameterisation, KL, total correlation)
* :mod:`aecourse.train`   the fit loop, devices, seeding, checkpoints
* :mod:`aecourse.metrics` sparsity, reconstruction and feature-recovery measures
* :mod:`aecourse.measure` chapter 05's supervised disentanglement metrics, one per file as in disentanglement_lib
  (``ground_truth``, ``discrete``, ``mig``, ``factor_vae``, ``beta_vae``, ``dci``, ``sap``, ``modularity``;
  the registry ``measure.METRICS``)
* :mod:`aecourse.morphometry` Morpho-MNIST stroke thickness, slant, length and area of (decoded) digits
* :mod:`aecourse.zoo`     small pretrained VAEs with sha256, retrained by ``aecourse zoo train``
* :mod:`aecourse.viz`     figures (:mod:`aecourse.figures_sparse` for the sparse chapters)
* :mod:`aecourse.widgets` ipywidgets: the sparse activation table, the live latent traversal
* :mod:`aecourse.checks`  the public checks behind every exercise
* :mod:`aecourse.env`     the environment report
* :mod:`aecourse.release`, :mod:`aecourse.grading`, :mod:`aecourse.cli`  course tooling (nbgrader)
"""

__version__ = "0.1.0"
