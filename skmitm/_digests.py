"""SHA-256 digests of image content, cheap for an image object digested again and again.

A template cache keys every hypothesis image on a SHA-256 of its bytes. A
cross-validated grid search hands the same image objects to the cache once
per setting and fold, and hashing them anew each time is most of what a
cached setting costs. :func:`content_digest` remembers, for an image object
seen a second time, a copy of its bytes and its digests: a later call
compares the image with that copy (a memory comparison, several times
faster than SHA-256, made in place) and returns the remembered digest only when the shape
and every byte are unchanged (the digest covers nothing else). An image changed in place is digested
anew. The copies are dropped with their image and are bounded in total by
``_SNAPSHOT_BUDGET``, the images followed by ``_MAX_IMAGES``; beyond either
bound images are simply hashed every time.
"""

import hashlib
import threading
import weakref

import numpy as np

__all__ = ["content_digest"]

# Bytes of image copies kept to check remembered digests (the 60-subject sweep
# of benchmarks/sweep_cost.py, 1,980 hypothesis images, needs 32 MB).
_SNAPSHOT_BUDGET = 128 * 2**20
# Image objects followed at once (a few hundred bytes each, copies aside).
_MAX_IMAGES = 2**16


def _sha256(prefix, shape, data):
    digest = hashlib.sha256(prefix)
    digest.update(repr(shape).encode())
    digest.update(data)
    return digest.digest()


class _Seen:
    """One image object followed: a weak reference and, from its second sighting, a copy.

    ``copy`` is None or a tuple (shape, bytes, {prefix: digest}) replaced as a
    whole, so a reader without the lock never sees a shape, bytes and digests
    from different moments.
    """

    __slots__ = ("ref", "copy")

    def __init__(self, ref):
        self.ref = ref
        self.copy = None


class _DigestMemo:
    def __init__(self, budget, max_images):
        self.budget = budget
        self.max_images = max_images
        self.used = 0
        self.seen = {}
        # Guards changes only; re-entrant, as a weak reference's callback may run while it is held.
        self.lock = threading.RLock()

    def digest(self, image, prefix):
        seen = self.seen.get(id(image))
        if seen is None or seen.ref() is not image:
            self._follow(image)
            # Seen once: no copy is kept (most images of a plain pipeline are never seen again).
            return _sha256(prefix, image.shape, image.data)
        copy = seen.copy
        # The same object of the same shape has as many bytes as its copy, so the copy starting
        # with the image's buffer means equal bytes, compared in place (bytes.startswith takes
        # any buffer; tobytes() would copy the image first).
        if copy is not None and copy[0] == image.shape and copy[1].startswith(image):
            digest = copy[2].get(prefix)
            if digest is None:
                digest = copy[2][prefix] = _sha256(prefix, copy[0], copy[1])
            return digest
        # Seen again without a copy yet, or changed since the copy: digest a new copy.
        snapshot = image.tobytes()
        digest = _sha256(prefix, image.shape, snapshot)
        with self.lock:
            if self.seen.get(id(image)) is seen:
                self._drop_copy(seen)
                if self.used + len(snapshot) <= self.budget:
                    seen.copy = (image.shape, snapshot, {prefix: digest})
                    self.used += len(snapshot)
        return digest

    def _follow(self, image):
        key = id(image)
        with self.lock:
            stale = self.seen.pop(key, None)
            if stale is not None:
                self._drop_copy(stale)
            if len(self.seen) < self.max_images:
                self.seen[key] = _Seen(weakref.ref(image, lambda ref: self._forget(key, ref)))

    def _drop_copy(self, seen):
        if seen.copy is not None:
            self.used -= len(seen.copy[1])
        seen.copy = None

    def _forget(self, key, ref):
        with self.lock:
            seen = self.seen.get(key)
            if seen is not None and seen.ref is ref:
                self._drop_copy(seen)
                del self.seen[key]


_MEMO = _DigestMemo(_SNAPSHOT_BUDGET, _MAX_IMAGES)


def content_digest(image, prefix=b""):
    """SHA-256 of ``prefix``, the repr of the array's shape and its bytes in C order.

    Equal to ``hashlib.sha256(prefix + repr(image.shape).encode() +
    image.tobytes()).digest()`` for every call; only faster for an image
    object digested before and unchanged since.

    Parameters
    ----------
    image : ndarray
        Any array; a non-contiguous one is digested through a C-contiguous
        copy (and so never remembered).
    prefix : bytes, default=b""
        Hashed first (e.g. a digest of the model and preprocessing).

    Returns
    -------
    digest : bytes of length 32

    Examples
    --------
    >>> import hashlib
    >>> import numpy as np
    >>> from skmitm._digests import content_digest
    >>> image = np.zeros((2, 2, 3), np.uint8)
    >>> content_digest(image, b"x") == hashlib.sha256(b"x(2, 2, 3)" + bytes(12)).digest()
    True
    >>> image[0, 0, 0] = 1  # changed in place: digested anew
    >>> content_digest(image, b"x") == hashlib.sha256(b"x(2, 2, 3)" + bytes([1]) + bytes(11)).digest()
    True
    """
    return _MEMO.digest(np.ascontiguousarray(image), prefix)
