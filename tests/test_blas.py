"""blas_threads: one BLAS thread for small products, the setting found restored after."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from skmitm._blas import SMALL_PRODUCT, blas_threads


def blas_thread_counts():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def three_threads():
    if not blas_thread_counts():
        pytest.skip("no BLAS library with a thread setting is loaded")
    with threadpool_limits(limits=3, user_api="blas"):
        assert blas_thread_counts() == {3}
        yield


def test_small_products_run_on_one_thread_and_the_setting_comes_back(three_threads):
    with blas_threads(SMALL_PRODUCT - 1):
        assert blas_thread_counts() == {1}
        a = np.arange(12, dtype=np.float32).reshape(4, 3)
        np.testing.assert_array_equal(a @ a.T, np.einsum("ik,jk->ij", a, a))
    assert blas_thread_counts() == {3}
    with blas_threads(SMALL_PRODUCT):
        assert blas_thread_counts() == {3}


def test_the_setting_comes_back_after_an_error(three_threads):
    with pytest.raises(RuntimeError, match="inside"):
        with blas_threads(10):
            assert blas_thread_counts() == {1}
            raise RuntimeError("inside")
    assert blas_thread_counts() == {3}
