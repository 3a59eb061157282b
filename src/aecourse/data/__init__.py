"""Datasets for the course, one topic per module; none of them needs the network unless you ask.

Every image dataset is returned as a :class:`LabelledImages`: a float32 image tensor
of shape ``(n, 1, H, W)`` with values in [0, 1], plus a table ``(n, k)`` of the
factors that generated (or label) each image. The vector datasets of the sparse
chapters come in their own small containers, with inputs ``x`` of shape ``(n, d)``.

=========================  ===============================================================
module                     holds
=========================  ===============================================================
:mod:`.containers`         :class:`LabelledImages`, :class:`NamedVectors`, :class:`FactorInfo`,
                           the factor-range check
:mod:`.glyphs`             :func:`make_glyph_digits`, :func:`render_glyph`, :data:`GLYPH_FACTORS`:
                           procedural 28x28 digits with *known* factors (digit, thickness,
                           slant, scale, shift), the course's stand-in for MNIST
:mod:`.digits`             :func:`load_sklearn_digits` (1,797 real 8x8 digits, no download),
                           :func:`load_mnist` and :func:`read_idx` (MNIST IDX files, downloaded
                           only with ``download=True``), :func:`default_data_dir`
:mod:`.sparse`             :func:`sparse_patterns` (the worked example's patterns A, B, C),
                           :func:`make_sparse_features` / :class:`SparseFeatures` (synthetic
                           data from a known dictionary of sparse features)
:mod:`.dsprites`           procedural dSprites with the original's factors, order and geometry
                           (:func:`~aecourse.data.dsprites.make_dsprites`,
                           :class:`~aecourse.data.dsprites.DSpritesGroundTruth`, ...)
=========================  ===============================================================

This module is the registry: :func:`load` picks a dataset by name and
:func:`available_datasets` lists the names. Adding a dataset is a module (or a
function in one) plus one line in ``_DATASETS`` below.

The modules import downwards only: ``containers`` imports :mod:`aecourse.contracts`;
``glyphs``, ``digits``, ``sparse`` and ``dsprites`` import ``containers``; this file
imports them all.
"""

from __future__ import annotations

from collections.abc import Callable

from aecourse.contracts import check_choice
from aecourse.data.containers import FactorInfo, LabelledImages, NamedVectors
from aecourse.data.digits import default_data_dir, load_mnist, load_sklearn_digits, read_idx
from aecourse.data.dsprites import make_dsprites  # for the registry; the module is aecourse.data.dsprites
from aecourse.data.glyphs import GLYPH_FACTORS, make_glyph_digits, render_glyph
from aecourse.data.sparse import SPARSE_PRESETS, SparseFeatures, make_sparse_features, sparse_patterns

__all__ = [
    "LabelledImages",
    "NamedVectors",
    "SparseFeatures",
    "SPARSE_PRESETS",
    "sparse_patterns",
    "make_sparse_features",
    "FactorInfo",
    "GLYPH_FACTORS",
    "make_glyph_digits",
    "render_glyph",
    "load_sklearn_digits",
    "load_mnist",
    "read_idx",
    "default_data_dir",
    "available_datasets",
    "load",
]

# name -> function returning a dataset. Adding a dataset is one line here.
_DATASETS: dict[str, Callable[..., LabelledImages | NamedVectors | SparseFeatures]] = {
    "glyphs": make_glyph_digits,
    "sklearn_digits": load_sklearn_digits,
    "mnist": load_mnist,
    "dsprites": make_dsprites,
    "sparse_patterns": sparse_patterns,
    "sparse_features": make_sparse_features,
}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load`.

    Returns
    -------
    list of str
        Sorted, e.g. ``["dsprites", "glyphs", "mnist", ...]``.
    """
    return sorted(_DATASETS)


def load(name: str, **kwargs) -> LabelledImages | NamedVectors | SparseFeatures:
    """Load a dataset by name; keyword arguments go to its function.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`.
    **kwargs
        Passed on, e.g. ``n`` and ``seed`` for ``"glyphs"``.

    Returns
    -------
    LabelledImages or NamedVectors or SparseFeatures
        Image datasets (``"glyphs"``, ``"sklearn_digits"``, ``"mnist"``, ``"dsprites"``)
        return :class:`LabelledImages` with images ``(n, 1, H, W)``; ``"sparse_patterns"``
        returns :class:`NamedVectors` ``(3, 4)`` and ``"sparse_features"``
        :class:`SparseFeatures` ``(n, d)``.

    Examples
    --------
    >>> data = load("glyphs", n=500, seed=1)
    >>> data.images.shape
    torch.Size([500, 1, 28, 28])
    """
    check_choice("name", name, available_datasets())
    return _DATASETS[name](**kwargs)
