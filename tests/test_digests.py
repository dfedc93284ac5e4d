"""content_digest: the SHA-256 of an image's shape and bytes, remembered for repeated image objects.

Every digest is checked against hashlib on the bytes directly (the oracle);
the count of SHA-256 runs shows when a remembered digest was served.
"""

import gc
import hashlib

import numpy as np
import pytest

from skmitm import _digests
from skmitm._digests import _DigestMemo, content_digest


def oracle(image, prefix=b""):
    image = np.ascontiguousarray(image)
    return hashlib.sha256(prefix + repr(image.shape).encode() + image.tobytes()).digest()


@pytest.fixture
def hashed(monkeypatch):
    """Count SHA-256 runs of image bytes."""
    runs, sha256 = [], _digests._sha256

    def counting(prefix, shape, data):
        runs.append(shape)
        return sha256(prefix, shape, data)

    monkeypatch.setattr(_digests, "_sha256", counting)
    return runs


def image(seed, shape=(6, 5, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_every_sighting_gives_the_sha256_and_an_unchanged_image_is_hashed_twice_only(hashed):
    face = image(0)
    digests = [content_digest(face, b"cfg") for _ in range(5)]
    assert digests == [oracle(face, b"cfg")] * 5
    # The first sighting hashes, the second copies and hashes, the rest compare with the copy.
    assert len(hashed) == 2


def test_an_image_changed_in_place_is_digested_anew(hashed):
    face = image(1)
    before = oracle(face, b"cfg")
    for _ in range(3):
        assert content_digest(face, b"cfg") == before
    face[2, 3, 1] ^= 1  # one bit of one pixel
    changed = oracle(face, b"cfg")
    assert changed != before
    assert content_digest(face, b"cfg") == changed
    assert content_digest(face, b"cfg") == changed  # the new content is remembered in turn
    face[2, 3, 1] ^= 1
    assert content_digest(face, b"cfg") == before
    assert len(hashed) == 4  # first, copy, changed, changed back


def test_a_reshaped_image_of_the_same_bytes_gets_its_own_digest():
    face = np.arange(2 * 6 * 3, dtype=np.uint8).reshape(2, 6, 3)
    for _ in range(3):
        content_digest(face)
    face.shape = (6, 2, 3)  # the same object and bytes, another shape
    assert content_digest(face) == oracle(face) != oracle(face.reshape(2, 6, 3))


def test_each_prefix_gets_its_own_digest_of_a_remembered_image(hashed):
    face = image(2)
    for _ in range(3):
        content_digest(face, b"model A")
    assert content_digest(face, b"model B") == oracle(face, b"model B") != oracle(face, b"model A")
    assert content_digest(face, b"model A") == oracle(face, b"model A")
    assert content_digest(face, b"model B") == oracle(face, b"model B")
    assert len(hashed) == 3  # model B hashed once from the copy


def test_a_non_contiguous_image_is_digested_through_a_copy():
    wide = image(3, (6, 10, 3))
    view = wide[:, ::2]
    for _ in range(3):
        assert content_digest(view) == oracle(view)
    wide[0, 0, 0] ^= 255  # seen through the view
    assert content_digest(view) == oracle(view)


def test_copies_stay_within_the_budget_and_go_with_their_image(hashed):
    memo = _DigestMemo(budget=200, max_images=10)
    small, large = image(4, (5, 5, 3)), image(5, (10, 10, 3))  # 75 and 300 bytes
    for _ in range(3):
        assert memo.digest(small, b"") == oracle(small)
        assert memo.digest(large, b"") == oracle(large)
    # The small image is copied and compared; the large one, over the budget, is hashed every time.
    assert hashed.count(small.shape) == 2 and hashed.count(large.shape) == 3
    assert memo.used == small.nbytes and len(memo.seen) == 2
    del small, large
    gc.collect()
    assert memo.used == 0 and memo.seen == {}


def test_images_beyond_the_limit_are_hashed_every_time(hashed):
    memo = _DigestMemo(budget=10_000, max_images=1)
    first, second = image(6), image(7)
    for _ in range(3):
        assert memo.digest(first, b"") == oracle(first)
        assert memo.digest(second, b"") == oracle(second)
    assert hashed.count(first.shape) == 2 + 3
    assert list(memo.seen) == [id(first)]


def test_a_new_image_at_a_dead_image_s_address_is_not_taken_for_it():
    memo = _DigestMemo(budget=10_000, max_images=10)
    for seed in range(20):  # freed arrays' ids are soon reused
        face = image(seed)
        for _ in range(3):
            assert memo.digest(face, b"") == oracle(face)
        del face
    assert memo.seen == {} and memo.used == 0
