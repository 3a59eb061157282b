"""Real handwritten digits: scikit-learn's bundled 8x8 digits and MNIST from its IDX files.

- :func:`load_sklearn_digits` -- 1,797 real 8x8 digits bundled with scikit-learn (no download).
- :func:`load_mnist` -- MNIST from IDX files you already have, or downloaded on request
  (``download=True``, checked against the published md5 sums, from the first mirror that answers).
- :func:`read_idx` -- one IDX file (raw or ``.gz``) as a NumPy array of its stored shape.
- :func:`default_data_dir` -- where datasets live (``$AECOURSE_DATA`` or ``~/.aecourse/data``).

Both return :class:`~aecourse.data.containers.LabelledImages` with one factor, ``"digit"``.
Nothing here touches the network unless asked.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from aecourse.contracts import check_choice
from aecourse.data.containers import LabelledImages

__all__ = ["load_sklearn_digits", "load_mnist", "read_idx", "default_data_dir"]


def load_sklearn_digits() -> LabelledImages:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn (no download).

    Returns
    -------
    LabelledImages
        ``images`` : Tensor, shape (1797, 1, 8, 8), float32 in [0, 1]
        (the raw values 0..16 divided by 16); factor ``"digit"``.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    return LabelledImages(images, bunch.target[:, None], ("digit",), name="sklearn_digits")


# ---------------------------------------------------------------------------
# MNIST from IDX files
# ---------------------------------------------------------------------------

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# md5 of the .gz files, as published with MNIST (and used by torchvision).
_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_DOWNLOAD_TIMEOUT_S = 10
_OFFLINE_FALLBACKS = "make_glyph_digits() or load_sklearn_digits(), which need no network"


def default_data_dir() -> Path:
    """Where datasets live: ``$AECOURSE_DATA`` if set, else ``~/.aecourse/data``.

    Returns
    -------
    Path
        The folder (not created); MNIST goes in its ``mnist/`` subfolder.
    """
    return Path(os.environ.get("AECOURSE_DATA") or Path.home() / ".aecourse" / "data")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a numpy array of its stored shape.

    The header is 2 zero bytes, a dtype code, the number of dimensions, then
    one big-endian uint32 per dimension. Only unsigned bytes (code 0x08, what
    MNIST uses) are supported.

    Parameters
    ----------
    path : str or PathLike
        The file; a ``.gz`` suffix is read through gzip.

    Returns
    -------
    ndarray of uint8, shape as stored
        E.g. ``(60000, 28, 28)`` for MNIST's training images, ``(60000,)`` for its labels.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable unsigned-byte IDX file, or truncated (the message says to fetch it again).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # includes gzip.BadGzipFile and truncated archives
        raise ValueError(
            f"{path} is not a readable IDX file ({err}); delete it and copy or download it again"
        ) from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file (bad magic number {data[:4].hex() or 'empty'}, "
            "expected 0000 08 followed by the number of dimensions); delete it and copy or download it again"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path} has a truncated IDX header; delete it and copy or download it again")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: header says shape {shape} ({expected} bytes) "
            f"but the file has {len(data)} bytes; delete it and copy or download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download_mnist(root: Path, names: Iterable[str]) -> None:
    """Fetch the ``.gz`` files into root, trying each mirror in turn."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        filename = f"{name}.gz"
        errors = []
        for mirror in _MNIST_MIRRORS:
            try:
                with urllib.request.urlopen(mirror + filename, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:  # timeouts, resets, ...
                errors.append(f"{mirror}: {err}")
                continue
            if hashlib.md5(payload, usedforsecurity=False).hexdigest() != _MNIST_MD5[filename]:
                errors.append(f"{mirror}: checksum mismatch")
                continue
            # Write to a temporary file and rename, so an interrupted download
            # never leaves a half-written file that looks complete.
            with tempfile.NamedTemporaryFile(dir=root, delete=False) as tmp:
                tmp.write(payload)
            os.replace(tmp.name, root / filename)
            break
        else:
            raise ConnectionError(
                f"could not download {filename} from any MNIST mirror; you appear to be offline "
                f"(or the mirrors are unreachable). Copy the MNIST IDX files into {root} yourself, "
                f"or use {_OFFLINE_FALLBACKS}.\nTried:\n  " + "\n  ".join(errors)
            )


def load_mnist(
    root: str | os.PathLike | None = None, split: str = "train", download: bool = False
) -> LabelledImages:
    """MNIST digits from the standard IDX files.

    Parameters
    ----------
    root : path, optional
        Folder holding ``train-images-idx3-ubyte`` etc., raw or ``.gz``.
        Defaults to ``$AECOURSE_DATA/mnist`` or ``~/.aecourse/data/mnist``.
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    download : bool
        Fetch missing files from a public mirror (needs the network). Off by
        default: nothing in the course touches the network unless asked.

    Returns
    -------
    LabelledImages
        ``images`` : Tensor, shape (n, 1, 28, 28), float32 in [0, 1];
        factor ``"digit"``.
    """
    split = check_choice("split", split, sorted(_MNIST_FILES))
    root = Path(root).expanduser() if root is not None else default_data_dir() / "mnist"
    names = _MNIST_FILES[split]

    missing = [name for name in names if _find_idx(root, name) is None]
    if missing and download:
        _download_mnist(root, missing)
    elif missing:
        raise FileNotFoundError(
            f"MNIST {split} files not found in {root}: expected "
            + " and ".join(f"{name}[.gz]" for name in names)
            + f". Pass download=True to fetch them, or copy the files there, or use {_OFFLINE_FALLBACKS}."
        )

    image_path, label_path = (_find_idx(root, name) for name in names)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{image_path} (shape {images.shape}) and {label_path} (shape {labels.shape}) do not match: "
            "expected images (n, H, W) and labels (n,); delete them and copy or download them again"
        )
    tensor = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    return LabelledImages(tensor, labels[:, None], ("digit",), name=f"mnist-{split}")

