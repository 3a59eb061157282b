"""Interactive views of what a model's units and latents do (ipywidgets), one widget per file.

Each widget is built by a function that returns it, so a notebook cell that ends with
the call shows it, and tests drive it from Python without a browser: set a control's
``.value`` (or call the widget's methods), then read the HTML string or the PNG bytes of
the outputs. Static figures (heatmaps, histograms, sweeps) live in :mod:`aecourse.viz`.

========================================  ======================================================
widget (module)                           what it shows
========================================  ======================================================
:func:`sparse_activation_table`           pick an input, see which units fire and how strongly;
(:mod:`.activation_table`, 02, 03)        pick a unit, see the inputs that make it fire most
                                          and the feature it writes
:func:`latent_traversal`                  one slider per latent, the decoded image (and,
(:mod:`.traversal`, 04)                   optionally, its thickness and slant) updating live
:func:`intervention_explorer`             set one latent to a value (an intervention) and see
(:mod:`.explorer`, 06)                    the decoded image and how much every latent responds,
                                          ``|R(z_int) - R(z0)|`` with ``R(z) = encode(decode(z))``
:func:`standing_table`                    where you stand: per chapter, the exercises and points
(:mod:`.standing`, 00)                    whose public checks passed (``aecourse progress``),
                                          with a "Refresh" button
========================================  ======================================================

:mod:`.common` holds what the first three share: PNG pictures (:func:`png_bytes`, :func:`png_size`),
the previous/next steppers, the wrapping control row and the input unpacking.

Keyboard and small screens: every dropdown has a "previous" and a "next" button beside
it (Tab to reach them, Space or Enter to press), because ArrowDown in a focused dropdown
can move JupyterLab's cell selection instead of the option (an ipywidgets bug); a slider
moves with the left and right arrow keys once Tab has reached its handle. Every picture
is shown at its own pixel size and never wider than the output area (a picture in a flex
column would otherwise be stretched to the column's width), so each widget fits a
1280 x 800 screen with its controls, pictures and tables in view.
"""

from .activation_table import SparseActivationTable, sparse_activation_table
from .common import png_bytes, png_size, step_selection, stepper
from .explorer import HIGHLIGHT_COLOUR, OTHER_COLOUR, InterventionExplorer, intervention_explorer
from .standing import StandingTable, standing_html, standing_table
from .traversal import LatentTraversal, latent_traversal

__all__ = ["SparseActivationTable", "sparse_activation_table", "LatentTraversal", "latent_traversal",
           "InterventionExplorer", "intervention_explorer", "StandingTable", "standing_table", "standing_html",
           "png_bytes", "png_size", "step_selection", "stepper",
           "HIGHLIGHT_COLOUR", "OTHER_COLOUR"]
