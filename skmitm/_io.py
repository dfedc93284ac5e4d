"""Everything skmitm reads from or writes to a disk: images, folders, array files, outputs.

Files and folders come from users and may be large, broken or hostile. The
rules kept here, once:

- **Images** are decoded only after their header says how many pixels they
  hold (at most :func:`pixel_limit`), EXIF orientation is applied, and every
  decoded image becomes 8-bit RGB by the rule of :func:`to_rgb8` or is
  refused. Faces smaller than :data:`MIN_FACE_SIZE` pixels are refused.
- **Folders** are scanned with symlinked sub-folders followed (a link back
  to a folder that contains it, a loop, is not followed, with a warning);
  entries that cannot be read are an error that names them.
- **Array files** (kept templates) are NumPy ``.npz`` archives read with
  ``allow_pickle=False`` and a JSON header carrying a format name, a version
  and a SHA-256 of the arrays: nothing read back can run code, and a corrupt,
  truncated or foreign file is refused, never trusted.
- **Outputs** are written through :func:`atomic_write`: a temporary file in
  the same folder, flushed to disk, then renamed over the target, so an old
  file survives any failure and no half-written file is ever left.
"""

import contextlib
import hashlib
import io
import json
import os
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MIN_FACE_SIZE",
    "atomic_write",
    "csv_cell",
    "list_images",
    "list_subfolders",
    "load_array_file",
    "load_image",
    "load_image_folder",
    "pixel_limit",
    "save_array_file",
    "to_rgb8",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff")

#: Smallest face height and width, in pixels, that skmitm accepts as input:
#: below it a face network's input is an upscaled blur of a few pixels, and a
#: 1×1 "face" would still be ranked.
MIN_FACE_SIZE = 8

#: Default pixel limit of a decoded image (40 megapixels, a 7300×5500 photo):
#: a few hundred bytes of PNG can announce 20000×20000 pixels (1.2 GB decoded).
DEFAULT_MAX_PIXELS = 40_000_000

_MAX_PIXELS_ENV = "SKMITM_MAX_PIXELS"


def pixel_limit():
    """The pixel limit of a decoded image: ``$SKMITM_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Examples
    --------
    >>> from skmitm._io import pixel_limit
    >>> pixel_limit()
    40000000
    """
    text = os.environ.get(_MAX_PIXELS_ENV)
    if text is None:
        return DEFAULT_MAX_PIXELS
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{_MAX_PIXELS_ENV}={text!r}; expected a positive number of pixels")
    return int(text)


# ----------------------------------------------------------------- images


def _header(data, name, path, limit):
    """(width, height, EXIF orientation) read from the file's header, without decoding its pixels."""
    from PIL import Image, TiffImagePlugin, UnidentifiedImageError

    stream = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            # The pixel limit is ours; Pillow's own bomb warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                return image.size[0], image.size[1], int(image.getexif().get(0x0112, 1) or 1)
    except Image.DecompressionBombError:
        # Pillow refuses to even read the header past twice its own limit.
        raise ValueError(f"{name}: {path!r} has more than {2 * Image.MAX_IMAGE_PIXELS} pixels, more than the limit "
                         f"of {limit}") from None
    except UnidentifiedImageError:
        pass
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{name}: {path!r} is not a readable image (corrupt header: {error})") from None
    # Pillow cannot open some TIFFs OpenCV decodes (3-channel float32): read their first directory.
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        try:
            directory = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
            stream.seek(directory.next)
            directory.load(stream)
            return int(directory[256]), int(directory[257]), int(directory.get(274, 1))
        except (KeyError, OSError, ValueError, TypeError, SyntaxError, struct.error) as error:
            raise ValueError(f"{name}: {path!r} is not a readable TIFF image ({error})") from None
    raise ValueError(f"{name}: {path!r} is not a readable image (unknown or corrupt format)")


def _orient(image, orientation):
    """Apply an EXIF orientation (1–8) so the image displays upright."""
    if orientation in (5, 6, 7, 8):
        image = np.swapaxes(image, 0, 1)  # transpose; then flips finish each case
        flips = {5: (), 6: (1,), 7: (0, 1), 8: (0,)}[orientation]
    else:
        flips = {2: (1,), 3: (0, 1), 4: (0,)}.get(orientation, ())
    for axis in flips:
        image = np.flip(image, axis=axis)
    return np.ascontiguousarray(image)


def to_rgb8(image, *, name="image"):
    """Turn a decoded image (OpenCV channel order) into H×W×3 uint8 RGB by one fixed rule, or refuse it.

    The rule, by dtype:

    - ``uint8``: kept.
    - ``uint16``: the high byte (``value >> 8``), so 65535 becomes 255.
    - ``float32``/``float64``: must be finite and within [0, 1]; scaled by
      255 and rounded. Floats outside [0, 1] are refused: their range is not
      known.
    - signed integers and anything else: refused, since no black and white
      level is agreed for them.

    and by channels: one channel (grey) is repeated three times; grey with
    alpha keeps the grey; BGR becomes RGB; an alpha channel is dropped.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        A decoded image, channels in OpenCV's BGR(A) order.
    name : str, default="image"
        How the image is named in error messages.

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm._io import to_rgb8
    >>> to_rgb8(np.full((2, 2), 65535, np.uint16))[0, 0].tolist()
    [255, 255, 255]
    >>> to_rgb8(np.full((2, 2, 3), 0.5, np.float32))[0, 0].tolist()
    [128, 128, 128]
    """
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        finite = np.isfinite(image).all()
        if not finite or image.min() < 0 or image.max() > 1:
            found = "non-finite values" if not finite else f"values in [{image.min():g}, {image.max():g}]"
            raise ValueError(f"{name} is a floating-point image with {found}; skmitm reads float images only "
                             "within [0, 1] (scaled by 255); save it as 8- or 16-bit")
        image = np.rint(image * 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{name} has {image.dtype} pixels; expected 8- or 16-bit unsigned or [0, 1] float "
                         "pixels (signed images have no agreed black level)")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{name} has shape {image.shape}; expected a grey, grey+alpha, RGB or RGBA image")
    channels = image.shape[2]
    if channels <= 2:
        return np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    return np.ascontiguousarray(image[:, :, 2::-1])


def load_image(path, *, name="path", max_pixels=None):
    """Read an image file as an H×W×3 uint8 RGB array, upright.

    The header is read first: an image of more than ``max_pixels`` pixels is
    refused before its pixels are decoded. EXIF orientation is applied. The
    pixels become 8-bit RGB by the rule of :func:`to_rgb8` (16-bit: high
    byte; float: [0, 1] scaled by 255; grey repeated; alpha dropped) or the
    file is refused. Images smaller than :data:`MIN_FACE_SIZE` pixels on a
    side are refused.

    Parameters
    ----------
    path : str or os.PathLike
        File to read (PNG, JPEG, PGM, PPM, BMP or TIFF).
    name : str, default="path"
        How the file is named in error messages, e.g. ``"X[3]"``.
    max_pixels : int, default=None
        Largest height × width decoded; None: :func:`pixel_limit` (40 million,
        or ``$SKMITM_MAX_PIXELS``).

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8
        The image in RGB channel order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be decoded, is too large, too small, or has
        pixels that have no 8-bit reading.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from skmitm import load_image
    >>> path = os.path.join(tempfile.mkdtemp(), "face.png")
    >>> _ = cv2.imwrite(path, np.zeros((12, 10), np.uint16))
    >>> image = load_image(path)
    >>> image.shape, image.dtype
    ((12, 10, 3), dtype('uint8'))
    """
    path = os.fspath(path)
    limit = pixel_limit() if max_pixels is None else max_pixels
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no image file at {path!r}")
    # cv2.imread cannot open non-ASCII paths on every platform; decoding bytes can.
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ValueError(f"{name}: {path!r} is not a readable image (an empty file)")
    width, height, orientation = _header(data.tobytes(), name, path, limit)
    if width * height > limit:
        raise ValueError(f"{name}: {path!r} is {width}×{height} pixels, more than the limit of {limit} "
                         f"(set {_MAX_PIXELS_ENV} to raise it)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ValueError(f"{name}: {path!r} cannot be decoded by OpenCV: {str(error).strip()}") from None
    if image is None:
        raise ValueError(f"{name}: {path!r} is not a readable image (corrupt or unsupported format)")
    image = _orient(to_rgb8(image, name=f"{name} ({path!r})"), orientation)
    check_face_size(image.shape, name=f"{name} ({path!r})")
    return image


def check_face_size(shape, *, name="image"):
    """Refuse an image smaller than :data:`MIN_FACE_SIZE` on either side."""
    if shape[0] < MIN_FACE_SIZE or shape[1] < MIN_FACE_SIZE:
        raise ValueError(f"{name} is {shape[0]}×{shape[1]} pixels; expected a face of at least "
                         f"{MIN_FACE_SIZE}×{MIN_FACE_SIZE}")


# ---------------------------------------------------------------- folders


def _is_image_name(name):
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _scan(folder, problems):
    """(image files, sub-folders) directly in ``folder``, symlinks followed; unreadable entries go to problems."""
    files, folders = [], []
    try:
        with os.scandir(folder) as entries:
            entries = sorted(entries, key=lambda e: e.name)
    except OSError as error:
        problems.append(f"{folder} ({error.strerror or error})")
        return files, folders
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError as error:
            problems.append(f"{entry.path} ({error.strerror or error})")
            continue
        if is_dir:
            folders.append(Path(entry.path))
        elif is_file:
            if _is_image_name(entry.name):
                files.append(Path(entry.path))
        elif entry.is_symlink():
            problems.append(f"{entry.path} (broken symbolic link)")
    return files, folders


def _raise_problems(problems, name, root):
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"{name} {str(root)!r}: {len(problems)} entries cannot be read: {shown}")


def _check_folder(root, name):
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{name} {str(root)!r} does not exist or is not a folder")
    return root


def list_subfolders(root, *, name="folder"):
    """Sorted sub-folders of ``root`` (symlinked ones included); unreadable entries are an error naming them."""
    root = _check_folder(root, name)
    problems = []
    folders = _scan(root, problems)[1]
    _raise_problems(problems, name, root)
    return folders


def list_images(root, *, name="folder", recursive=False):
    """Sorted image files in ``root`` (and below it when ``recursive``).

    Symlinked files and folders are followed, so a folder linked under two
    names is read under both. A link back to a folder that contains it (a
    loop) is not followed, with a warning that names it. Hidden entries (a
    leading dot) are skipped. Entries that cannot be read — a folder
    without permission, a broken link — are an error naming them.

    Parameters
    ----------
    root : str or os.PathLike
    name : str, default="folder"
        How the folder is named in error messages.
    recursive : bool, default=False

    Returns
    -------
    files : list of pathlib.Path
        Paths below ``root`` as reached (through the links).
    """
    root = _check_folder(root, name)
    problems, files, loops = [], [], []
    pending = [(root, frozenset())]
    while pending:
        folder, ancestors = pending.pop()
        stat = folder.stat()
        identity = (stat.st_dev, stat.st_ino)
        if identity in ancestors:
            loops.append(str(folder))
            continue
        found, folders = _scan(folder, problems)
        files += found
        if recursive:
            pending += [(f, ancestors | {identity}) for f in reversed(folders)]
    _raise_problems(problems, name, root)
    if loops:
        warnings.warn(f"{name} {str(root)!r}: {len(loops)} symbolic link loop(s) not followed: "
                      f"{', '.join(loops[:5])}", UserWarning, stacklevel=2)
    return sorted(files)


def load_image_folder(path, *, labelled, name="folder", flat_labels=True):
    """Read every image below a folder, optionally labelled by sub-folder.

    Parameters
    ----------
    path : str or os.PathLike
        The folder. Images are found recursively (PNG, JPEG, PGM, PPM, BMP,
        TIFF), through symlinked sub-folders too (see :func:`list_images`).
    labelled : bool
        If true, each image's subject is the name of its first-level
        sub-folder (``gallery/NAME/any.jpg``).
    name : str, default="folder"
        How the folder is named in error messages.
    flat_labels : bool, default=True
        With ``labelled``: whether an image directly in the folder takes its
        file name without extension as subject (one image per subject, e.g.
        mugshots ``001_frontal.jpg``). If false such an image is an error,
        since it carries no label (a probe folder to evaluate). A name that
        is both a file and a sub-folder (``X.png`` beside ``X/``) is always an
        error.

    Returns
    -------
    images : list of ndarray
    subjects : ndarray of str or None
        None when ``labelled`` is false.
    ids : list of str
        Each image's path relative to the folder.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from skmitm._io import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "ann"))
    >>> _ = cv2.imwrite(os.path.join(root, "ann", "1.png"), np.zeros((16, 16, 3), np.uint8))
    >>> _ = cv2.imwrite(os.path.join(root, "bob.png"), np.zeros((16, 16, 3), np.uint8))
    >>> images, subjects, ids = load_image_folder(root, labelled=True)
    >>> subjects.tolist(), ids
    (['ann', 'bob'], ['ann/1.png', 'bob.png'])
    """
    root = Path(path)
    files = list_images(root, name=name, recursive=True)
    if not files:
        raise ValueError(f"{name} {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    ids = [f.relative_to(root).as_posix() for f in files]
    subjects = None
    if labelled:
        parts = [i.split("/") for i in ids]
        flat = [i for i, p in zip(ids, parts) if len(p) == 1]
        if flat and not flat_labels:
            raise ValueError(f"{name} {str(root)!r} has {len(flat)} image(s) outside a subject sub-folder "
                             f"(first: {flat[0]!r}); expected {name}/SUBJECT/IMAGE so every image is labelled")
        folders = {p[0] for p in parts if len(p) > 1}
        both = sorted({Path(i).stem for i in flat} & folders)
        if both:
            raise ValueError(f"{name} {str(root)!r}: subject {both[0]!r} is both an image file and a sub-folder; "
                             "expected one of the two")
        subjects = np.asarray([p[0] if len(p) > 1 else Path(p[0]).stem for p in parts])
    images = [load_image(f, name=f"{name} image {i}") for f, i in zip(files, ids)]
    return images, subjects, ids


# ------------------------------------------------------------ array files


def _checksum(arrays):
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_array_file(path, arrays, header, *, format):
    """Write named arrays and a JSON header to an ``.npz`` file, atomically.

    The header gets ``format`` (the file's kind and version, e.g.
    ``"skmitm-ablation-templates/1"``) and ``sha256`` (over every array's
    name, dtype, shape and bytes); :func:`load_array_file` checks both.
    Arrays must not hold Python objects.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for key, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"array {key!r} holds Python objects; expected plain numeric or string arrays")
    full = {**header, "format": format, "sha256": _checksum(arrays)}
    blob = np.frombuffer(json.dumps(full).encode(), dtype=np.uint8)
    with atomic_write(path, "wb") as f:
        np.savez(f, __header__=blob, **arrays)


def load_array_file(path, *, format, name="file"):
    """Read a file written by :func:`save_array_file`; returns ``(arrays, header)``.

    ``format`` is the one accepted format, or a sequence of them (a reader of
    several versions); ``header["format"]`` says which the file has.

    Nothing is unpickled (``allow_pickle=False``). A file that is not such an
    archive, is truncated, has another ``format`` (kind or version) or whose
    arrays do not match the header's checksum raises ``ValueError`` naming
    the file and the reason.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise ValueError(f"{name} {path!r} is not a readable skmitm array file ({type(error).__name__}: "
                         f"{error})") from None
    if not isinstance(arrays, dict) or "__header__" not in arrays:
        raise ValueError(f"{name} {path!r} is not a skmitm array file (no header)")
    try:
        header = json.loads(arrays.pop("__header__").tobytes().decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{name} {path!r} has a corrupt header ({error})") from None
    accepted = (format,) if isinstance(format, str) else tuple(format)
    if not isinstance(header, dict) or header.get("format") not in accepted:
        found = header.get("format") if isinstance(header, dict) else None
        expected = repr(accepted[0]) if len(accepted) == 1 else " or ".join(map(repr, accepted))
        raise ValueError(f"{name} {path!r} has format {found!r}; expected {expected}")
    if header.get("sha256") != _checksum(arrays):
        raise ValueError(f"{name} {path!r} does not match its checksum (corrupt or altered)")
    return arrays, header


# ---------------------------------------------------------------- outputs


def _default_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_NEW_FILE_MODE = _default_mode()


@contextlib.contextmanager
def atomic_write(path, mode="w", *, newline=None, encoding=None):
    """Open a temporary file beside ``path`` and move it over ``path`` only when the block succeeds.

    The temporary file lives in the same folder (so the final rename never
    crosses file systems), is flushed and ``fsync``-ed, then renamed with
    :func:`os.replace`. If the block or any step fails, the temporary file
    is removed and ``path`` is untouched: an old file survives, and no
    half-written one is left.

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"w", "wb"}, default="w"
    newline, encoding : str, default=None
        As for :func:`open` in text mode (``encoding`` defaults to UTF-8).

    Examples
    --------
    >>> import os, tempfile
    >>> from skmitm._io import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(path) as f:
    ...     _ = f.write("kept\\n")
    >>> try:
    ...     with atomic_write(path) as f:
    ...         _ = f.write("half")
    ...         raise OSError("disk full")
    ... except OSError:
    ...     pass
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('kept\\n', ['out.txt'])
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}; expected 'w' or 'wb'")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, _NEW_FILE_MODE)
        text = {"newline": newline, "encoding": encoding or "utf-8"} if mode == "w" else {}
        with open(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(text)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text: strings starting with = + - @ tab or CR get a leading ``'``.

    This is OWASP's rule against formula injection; numbers pass unchanged.

    Examples
    --------
    >>> from skmitm._io import csv_cell
    >>> csv_cell("=HYPERLINK(1)"), csv_cell("ann"), csv_cell(-1.5)
    ("'=HYPERLINK(1)", 'ann', -1.5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
