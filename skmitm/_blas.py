"""One BLAS thread for small matrix products.

Scoring a few hundred probe hypotheses against a small gallery is a product
of some ten million multiply-adds: a millisecond on one core. With several
BLAS threads each call first wakes and later waits for the others, which on
a busy machine (a grid search beside other work) costs many times the
arithmetic. :func:`blas_threads` runs such products on one thread and leaves
larger ones to every thread BLAS has.
"""

import contextlib

__all__ = ["blas_threads"]

# Multiply-adds below which a product runs on one thread (about 10 ms of one core).
SMALL_PRODUCT = 1 << 26

_CONTROLLER = []


@contextlib.contextmanager
def blas_threads(multiply_adds):
    """Run the block on one BLAS thread if its products total fewer than ``SMALL_PRODUCT`` multiply-adds.

    Like :func:`threadpoolctl.threadpool_limits` (the setting found is
    restored on leaving), without finding the loaded BLAS libraries anew on
    every call, which would cost more than a small product.

    Parameters
    ----------
    multiply_adds : int
        The block's matrix products' size (rows × columns × inner dimension,
        summed).

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm._blas import blas_threads
    >>> a = np.ones((4, 3), np.float32)
    >>> with blas_threads(a.shape[0] * a.shape[0] * a.shape[1]):
    ...     product = a @ a.T
    >>> product[0].tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    if multiply_adds >= SMALL_PRODUCT:
        yield
        return
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        # Finding the loaded libraries takes ~0.3 ms: once per process (numpy's BLAS is loaded with numpy).
        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield
