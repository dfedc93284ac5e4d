"""Reading image folders for the command line: labelled galleries and probe sets."""

import os
from pathlib import Path

import numpy as np

from ._validation import image_suffixes, load_image

__all__ = ["load_image_folder"]


def _image_files(root):
    suffixes = image_suffixes()
    files = []
    for folder, _, names in os.walk(root):
        files += [Path(folder) / n for n in names if n.lower().endswith(suffixes) and not n.startswith(".")]
    return sorted(files)


def load_image_folder(path, *, labelled, name="folder"):
    """Read every image below a folder, optionally labelled by sub-folder.

    Parameters
    ----------
    path : str or os.PathLike
        The folder. Images are found recursively (PNG, JPEG, PGM, PPM, BMP,
        TIFF).
    labelled : bool
        If true, each image's subject is the name of its first-level
        sub-folder (``gallery/NAME/any.jpg``); an image directly in the folder
        takes its file name without extension as subject (one image per
        subject, e.g. mugshots ``001_frontal.jpg``).
    name : str, default="folder"
        How the folder is named in error messages.

    Returns
    -------
    images : list of ndarray
    subjects : ndarray of str or None
        None when ``labelled`` is false.
    ids : list of str
        Each image's path relative to the folder.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{name} {str(root)!r} does not exist or is not a folder")
    files = _image_files(root)
    if not files:
        raise ValueError(f"{name} {str(root)!r} holds no images ({', '.join(image_suffixes())})")
    ids = [str(f.relative_to(root)) for f in files]
    images = [load_image(f, name=f"{name} image {i}") for f, i in zip(files, ids)]
    if not labelled:
        return images, None, ids
    subjects = [Path(i).parts[0] if len(Path(i).parts) > 1 else Path(i).stem for i in ids]
    return images, np.asarray(subjects), ids
