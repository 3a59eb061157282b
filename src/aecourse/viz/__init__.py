"""Figures the course shows again and again.

Every figure function returns a matplotlib ``Figure`` and closes it in pyplot, so a
notebook cell that ends with the call shows the figure exactly once and tests can
inspect it without a display. Interactive views live in :mod:`aecourse.widgets`.

==========================  =================================================================
module                      what it draws
==========================  =================================================================
:mod:`.figures`             image grids, reconstructions, latent scatters, training curves
                            (every chapter)
:mod:`.traversals`          decoded images, latent traversals and their grid (04, 06);
                            also :func:`decode_function`, :func:`model_device` and the latent
                            checks the widgets and :mod:`aecourse.interventions` share
:mod:`.heatmaps`            annotated matrices, response matrices and response maps (05, 06)
:mod:`.sparse`              activation heatmaps, decoder features, feature density, sparsity
                            sweeps, feature matrices (02-sparse, 03-features)
:mod:`.live`                a loss and quick-MIG figure that redraws itself while a model
                            trains, and the same for a finished run (05)
:mod:`.alt`                 the alt text every figure carries (:func:`set_alt`, :func:`alt_text`,
                            :func:`figure_alt`) and how it reaches the notebook output
==========================  =================================================================

Every figure says what it shows, with its data: each function stores an alt text on its figure
(``alt_text(fig)``), and importing this package inside IPython (:func:`aecourse.viz.alt.install`)
makes every displayed figure carry it: ``metadata["image/png"]["alt"]``, ``text/plain`` and an
``<img alt=...>`` in ``text/html`` (JupyterLab draws a PNG output without one). A figure nobody
described (a chapter's own pyplot figure) is described from its titles, labels and contents.

The names below are re-exported here (``from aecourse.viz import traversal_grid``); the
sparse chapters' figures are imported from :mod:`aecourse.viz.sparse`.
"""

from . import alt
from .alt import alt_text, figure_alt, set_alt
from .figures import finish, image_grid, latent_scatter, plot_history, show_reconstructions, to_numpy_images
from .heatmaps import heatmap, response_heatmap, response_map_figure
from .live import LiveTrainingFigure, training_curve_figure
from .traversals import (check_span, decode_function, decode_images, latent_index, latent_names, model_device,
                         single_code, traversal_grid, traversal_images)

__all__ = [
    "image_grid", "show_reconstructions", "latent_scatter", "plot_history", "to_numpy_images", "finish",
    "decode_images", "traversal_images", "traversal_grid",
    "decode_function", "model_device", "latent_index", "check_span", "latent_names", "single_code",
    "heatmap", "response_heatmap", "response_map_figure",
    "LiveTrainingFigure", "training_curve_figure",
    "set_alt", "alt_text", "figure_alt",
]

alt.install()  # inside IPython: every displayed Figure carries its alt text (a no-op elsewhere)
