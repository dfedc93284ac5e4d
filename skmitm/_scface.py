"""SCFace: a loader for a local copy and the paper's two evaluation protocols.

SCFace (Grgic, Delac, Grgic 2011) holds 130 subjects: one high-resolution
frontal mugshot each (the gallery) and surveillance frames from five visible
light cameras at three distances (the probes). It is licensed by the
University of Zagreb and never downloaded here; :func:`load_scface` reads a
copy the user already has, laid out as distributed::

    ROOT/mugshot_frontal_cropped_all/001_frontal.jpg
    ROOT/surveillance_cameras_distance_1/cam1/001_cam1_1.jpg
    ...
    ROOT/surveillance_cameras_distance_3/cam5/130_cam5_3.jpg

:func:`evaluate_scface` runs the paper's protocols on it: rank-1 over all 130
subjects, and the mean ± standard deviation over 10 random 80-subject
sub-samplings (RRSSV).
"""

import re
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from ._model_selection import RepeatedSubjectSubsampling
from ._io import list_images, load_image
from ._validation import is_integer

__all__ = ["SCFACE_DISTANCES", "evaluate_scface", "load_scface"]

#: Camera-to-subject distance in metres of each SCFace distance index.
SCFACE_DISTANCES = {1: 4.2, 2: 2.6, 3: 1.0}

_MUGSHOT_FOLDER = "mugshot_frontal_cropped_all"
_DEFAULT_CAMERAS = (1, 2, 3, 4, 5)
_MUGSHOT_NAME = re.compile(r"^(?P<subject>\d+)_frontal$", re.IGNORECASE)
_PROBE_NAME = re.compile(r"^(?P<subject>\d+)_cam(?P<camera>\d+)_(?P<distance>\d+)$", re.IGNORECASE)
_PROTOCOLS = ("all", "rrssv")


def _image_files(folder):
    """(stem, path) of every image file in ``folder``, sorted by name; other files are ignored."""
    return [(path.stem, path) for path in list_images(folder, name="SCFace folder")]


def _check_indices(values, name, allowed=None):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        values = (values,)
    values = tuple(values)
    if not values or not all(is_integer(v) and v >= 1 for v in values):
        raise ValueError(f"{name}={values!r}; expected a non-empty sequence of positive integers")
    if allowed is not None and not set(values) <= set(allowed):
        raise ValueError(f"{name}={values!r}; expected values among {tuple(allowed)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name}={values!r} repeats a value")
    return tuple(sorted(int(v) for v in values))


def _read_mugshots(folder):
    mugshots = {}
    for stem, path in _image_files(folder):
        match = _MUGSHOT_NAME.match(stem)
        if match is None:
            raise ValueError(f"mugshot file {str(path)!r} is not named NNN_frontal.jpg; remove it or rename it")
        subject = int(match["subject"])
        if subject in mugshots:
            raise ValueError(f"subject {subject} has two mugshots: {str(mugshots[subject])!r} and {str(path)!r}")
        mugshots[subject] = path
    if not mugshots:
        raise ValueError(f"mugshot folder {str(folder)!r} holds no NNN_frontal.jpg images")
    return mugshots


def _require_folder(folder, expected):
    if not folder.is_dir():
        raise FileNotFoundError(f"SCFace folder {str(folder)!r} does not exist; expected {expected}")


def _read_probes(root, distances, cameras):
    probes = []
    for distance in distances:
        distance_folder = root / f"surveillance_cameras_distance_{distance}"
        _require_folder(distance_folder, f"the probes of distance {distance} "
                        f"({SCFACE_DISTANCES.get(distance, '?')} m) there, or pass distances= without {distance}")
        for camera in cameras:
            folder = distance_folder / f"cam{camera}"
            _require_folder(folder, f"camera {camera}'s frames at distance {distance} there, or pass cameras= "
                            f"without {camera}")
            for stem, path in _image_files(folder):
                match = _PROBE_NAME.match(stem)
                if match is None:
                    raise ValueError(f"probe file {str(path)!r} is not named NNN_camN_D.jpg; remove it or rename it")
                if int(match["camera"]) != camera or int(match["distance"]) != distance:
                    raise ValueError(
                        f"probe file {str(path)!r} names camera {int(match['camera'])} at distance "
                        f"{int(match['distance'])} but lies in the folder of camera {camera} at distance {distance}"
                    )
                probes.append((distance, camera, int(match["subject"]), path))
    if not probes:
        raise ValueError(
            f"no probe image under {str(root)!r} for distances {distances} and cameras {cameras}; "
            "expected surveillance_cameras_distance_D/camN/NNN_camN_D.jpg files"
        )
    return probes


def load_scface(root, *, distances=(1,), cameras=None, mugshot_folder=_MUGSHOT_FOLDER, return_paths=False):
    """Load a local copy of SCFace: mugshots as the gallery, surveillance frames as probes.

    Parameters
    ----------
    root : str or os.PathLike
        The SCFace folder, holding ``mugshot_frontal_cropped_all/`` and
        ``surveillance_cameras_distance_{1,2,3}/cam{1..5}/``.
    distances : sequence of int, default=(1,)
        Distance indices to load probes from: 1 = 4.2 m (the hardest,
        smallest faces), 2 = 2.6 m, 3 = 1.0 m (see :data:`SCFACE_DISTANCES`).
    cameras : sequence of int, default=None
        Camera numbers to load probes from. None: the five visible-light
        cameras ``cam1`` … ``cam5``. Every requested camera folder must exist.
    mugshot_folder : str, default="mugshot_frontal_cropped_all"
        Sub-folder of ``root`` holding the ``NNN_frontal.jpg`` mugshots.
    return_paths : bool, default=False
        If True, images are not read: the ``*_images`` fields and ``X`` hold
        file paths, which every skmitm step accepts (SCFace's mugshots are
        large, and reading them lazily bounds memory). An unreadable file is
        then reported when a step reads it.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``gallery_images``, ``gallery_subjects`` (int), ``gallery_paths``;
        ``probe_images``, ``probe_subjects``, ``probe_cameras``,
        ``probe_distances`` (distance indices), ``probe_paths``; and the
        combined ``X`` (gallery then probes), ``y`` (subjects) and ``roles``
        (``"gallery"``/``"probe"``) for
        :class:`~skmitm.RepeatedSubjectSubsampling` (pass ``roles`` as
        ``groups``) and :func:`evaluate_scface`. Images are H×W×3 uint8 RGB.
        Gallery sorted by subject; probes by distance, camera, subject.

    Raises
    ------
    FileNotFoundError
        If ``root``, the mugshot folder or a requested distance or camera
        folder is missing.
    ValueError
        If there are no mugshots or no probes, a file is misnamed or
        misplaced, a subject has two mugshots, an image is unreadable, or
        subjects have probes but no mugshot.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from skmitm.datasets import load_scface
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "mugshot_frontal_cropped_all"))
    >>> for s in (1, 2):
    ...     _ = cv2.imwrite(os.path.join(root, "mugshot_frontal_cropped_all", f"{s:03d}_frontal.jpg"),
    ...                     np.zeros((60, 50, 3), np.uint8))
    ...     for c in (1, 2, 3, 4, 5):
    ...         os.makedirs(os.path.join(root, "surveillance_cameras_distance_1", f"cam{c}"), exist_ok=True)
    ...         _ = cv2.imwrite(os.path.join(root, "surveillance_cameras_distance_1", f"cam{c}",
    ...                                      f"{s:03d}_cam{c}_1.jpg"), np.zeros((30, 25, 3), np.uint8))
    >>> data = load_scface(root)
    >>> len(data.gallery_images), len(data.probe_images), data.roles[:3].tolist()
    (2, 10, ['gallery', 'gallery', 'probe'])
    """
    distances = _check_indices(distances, "distances", allowed=SCFACE_DISTANCES)
    cameras = _DEFAULT_CAMERAS if cameras is None else _check_indices(cameras, "cameras")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SCFace folder {str(root)!r} does not exist")
    mugshot_dir = root / mugshot_folder
    if not mugshot_dir.is_dir():
        raise FileNotFoundError(
            f"SCFace mugshot folder {str(mugshot_dir)!r} does not exist; expected the NNN_frontal.jpg gallery there"
        )
    mugshots = _read_mugshots(mugshot_dir)
    probes = _read_probes(root, distances, cameras)
    orphans = sorted({subject for _, _, subject, _ in probes} - set(mugshots))
    if orphans:
        shown = ", ".join(str(s) for s in orphans[:10]) + (" …" if len(orphans) > 10 else "")
        raise ValueError(
            f"{len(orphans)} subjects have probes but no mugshot in {str(mugshot_dir)!r}: {shown}; "
            "every probe subject needs a NNN_frontal.jpg"
        )
    probes.sort(key=lambda p: p[:3])
    gallery_subjects = np.array(sorted(mugshots), dtype=np.int64)
    gallery_paths = [str(mugshots[s]) for s in gallery_subjects]
    probe_paths = [str(p[3]) for p in probes]

    def read(paths):
        return list(paths) if return_paths else [load_image(p, name=f"SCFace image {p}") for p in paths]

    gallery_images, probe_images = read(gallery_paths), read(probe_paths)
    probe_subjects = np.array([p[2] for p in probes], dtype=np.int64)
    return Bunch(
        gallery_images=gallery_images,
        gallery_subjects=gallery_subjects,
        gallery_paths=gallery_paths,
        probe_images=probe_images,
        probe_subjects=probe_subjects,
        probe_cameras=np.array([p[1] for p in probes], dtype=np.int64),
        probe_distances=np.array([p[0] for p in probes], dtype=np.int64),
        probe_paths=probe_paths,
        X=gallery_images + probe_images,
        y=np.concatenate([gallery_subjects, probe_subjects]),
        roles=np.array(["gallery"] * len(gallery_images) + ["probe"] * len(probe_images)),
        distances=distances,
        cameras=cameras,
    )


def _take(X, index):
    return X[index] if isinstance(X, np.ndarray) else [X[i] for i in index]


def _scatter(parts, n):
    """One sequence of ``n`` samples from (indices, values) parts: an array if every part is one."""
    if all(isinstance(values, np.ndarray) for _, values in parts):
        out = np.empty((n,) + parts[0][1].shape[1:], dtype=parts[0][1].dtype)
    else:
        out = [None] * n
    for index, values in parts:
        for i, value in zip(index, values):
            out[i] = value
    return out


def evaluate_scface(
    estimator,
    data,
    *,
    protocol="all",
    features=None,
    n_subjects=80,
    n_repeats=10,
    random_state=0,
):
    """Rank-1 identification on SCFace under the paper's protocols.

    Parameters
    ----------
    estimator : estimator
        Enrols a gallery with ``fit(X, y)`` and identifies probes with
        ``predict(X)``: a :class:`~sklearn.pipeline.Pipeline` ending in
        :class:`~skmitm.FusedNearestNeighborIdentifier`, or the identifier
        alone when ``features`` is given. It is cloned for every split.
    data : :class:`~sklearn.utils.Bunch`
        The result of :func:`load_scface` (``X``, ``y``, ``roles`` and
        ``probe_distances``, probes in ``X`` in the order of the ``probe_*``
        fields).
    protocol : {"all", "rrssv"}, default="all"
        ``"all"``: one split, every gallery subject enrolled and every probe
        identified (130 subjects on SCFace). ``"rrssv"``: ``n_repeats``
        random draws of ``n_subjects`` subjects, each enrolling only their
        mugshots and identifying only their probes
        (:class:`~skmitm.RepeatedSubjectSubsampling`).
    features : transformer, default=None
        Steps that turn images into what ``estimator`` takes (face cropping,
        gallery degradation, super-resolution, templates). When given, it is
        fitted once: ``fit_transform`` on all gallery samples and
        ``transform`` on all probes, and every split reuses the result, so
        RRSSV costs no more feature computation than one split. Its output
        for a sample should not depend on the other samples: true of
        :class:`~skmitm.FaceCropper`, :class:`~skmitm.MultiHypothesisUpsampler`
        and :class:`~skmitm.TemplateExtractor`. :class:`~skmitm.GalleryDegrader`
        seeds its random degradations by the image's position in the
        gallery, so its draws for a split differ from those of a fit on that
        split's gallery alone — different draws of the same distribution.
    n_subjects : int or float, default=80
        Subjects per RRSSV draw (a float in (0, 1) is a fraction).
    n_repeats : int, default=10
        RRSSV draws.
    random_state : int, default=0
        Seed of the RRSSV draws.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``protocol``; ``scores`` (n_splits,) rank-1 over all probes of each
        split; ``mean`` and ``std`` of ``scores`` (population standard
        deviation, ddof=0); ``by_distance`` {distance
        index: (n_splits,) rank-1 over that distance's probes};
        ``subjects`` (the subjects of each split); ``splits`` (train and test
        indices into ``data.X``); ``predictions`` (the predicted subject of
        each test probe, per split).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from skmitm import FusedNearestNeighborIdentifier
    >>> from skmitm.datasets import evaluate_scface
    >>> rng = np.random.default_rng(0)
    >>> mugshots = rng.normal(size=(6, 16))
    >>> probes = mugshots + 0.1 * rng.normal(size=(6, 16))
    >>> data = Bunch(X=np.vstack([mugshots, probes]), y=np.tile(np.arange(6), 2),
    ...              roles=np.repeat(["gallery", "probe"], 6), probe_distances=np.ones(6, int))
    >>> result = evaluate_scface(FusedNearestNeighborIdentifier(), data, protocol="rrssv",
    ...                          n_subjects=4, n_repeats=3)
    >>> result.scores.tolist(), [len(s) for s in result.subjects]
    ([1.0, 1.0, 1.0], [4, 4, 4])
    """
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}; expected one of {_PROTOCOLS}")
    missing = [key for key in ("X", "y", "roles", "probe_distances") if key not in data]
    if missing:
        raise ValueError(f"data lacks {missing}; expected the Bunch returned by load_scface")
    y = np.asarray(data.y)
    roles = np.asarray(data.roles)
    n = len(data.X)
    if y.shape != (n,) or roles.shape != (n,):
        raise ValueError(f"data has {n} samples but y has shape {y.shape} and roles {roles.shape}; expected ({n},)")
    bad = ~np.isin(roles, ("gallery", "probe"))
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise ValueError(f"data.roles[{first}] is {str(roles[first])!r}; expected 'gallery' or 'probe'")
    gallery, probe = np.flatnonzero(roles == "gallery"), np.flatnonzero(roles == "probe")
    if len(gallery) == 0 or len(probe) == 0:
        raise ValueError(f"data has {len(gallery)} gallery and {len(probe)} probe samples; expected both")
    distance = np.zeros(n, dtype=np.int64)
    probe_distances = np.asarray(data.probe_distances)
    if probe_distances.shape != (len(probe),):
        raise ValueError(
            f"data.probe_distances has shape {probe_distances.shape}; expected one distance per probe, ({len(probe)},)"
        )
    distance[probe] = probe_distances

    if protocol == "all":
        splits = [(gallery, probe[np.isin(y[probe], y[gallery])])]
    else:
        cv = RepeatedSubjectSubsampling(n_subjects, n_repeats=n_repeats, random_state=random_state)
        splits = list(cv.split(data.X, y, roles))

    X = data.X
    if features is not None:
        transformer = clone(features)
        enrolled = transformer.fit_transform(_take(X, gallery), y[gallery])
        X = _scatter([(gallery, enrolled), (probe, transformer.transform(_take(X, probe)))], n)

    scores, subjects, predictions = [], [], []
    by_distance = {int(d): [] for d in np.unique(probe_distances)}
    for train, test in splits:
        model = clone(estimator).fit(_take(X, train), y[train])
        predicted = np.asarray(model.predict(_take(X, test)))
        correct = predicted == y[test]
        scores.append(float(correct.mean()))
        for d, rates in by_distance.items():
            at = distance[test] == d
            rates.append(float(correct[at].mean()) if at.any() else np.nan)
        subjects.append(np.unique(y[train]))
        predictions.append(predicted)
    scores = np.asarray(scores)
    return Bunch(
        protocol=protocol,
        scores=scores,
        mean=float(scores.mean()),
        std=float(scores.std()),
        by_distance={d: np.asarray(r) for d, r in by_distance.items()},
        subjects=subjects,
        splits=splits,
        predictions=predictions,
    )
