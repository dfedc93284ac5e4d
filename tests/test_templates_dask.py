"""Template extraction and a GridSearchCV on a dask.distributed cluster (joblib's dask backend).

The test starts a LocalCluster of two worker processes itself and checks that
the work ran on those workers and gave the same results as a local run.
"""

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, RepeatedSubjectSubsampling, make_meta
from skmitm._templates import TemplateExtractor

distributed = pytest.importorskip("distributed", reason="dask is an optional extra: pip install 'skmitm[dask]'")
pytest.importorskip("onnx")

from test_templates import make_tiny_onnx  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, worker_dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def hypothesis_sets(n_subjects, rng):
    """Per subject: a gallery set (original + matched at two scales) and two probe sets."""
    sets, subjects, roles = [], [], []
    for s in range(n_subjects):
        # Subjects differ in colour, which is what the tiny network sees (channel means).
        colour = rng.integers(0, 256, 3)
        face = (0.7 * colour + 0.3 * rng.integers(0, 256, (32, 32, 3))).astype(np.uint8)
        gallery = [face, face[::2, ::2].copy(), face[::4, ::4].copy()]
        meta = make_meta(3, scale=[1, 2, 4], kind=["original", "matched", "matched"], size=8)
        sets.append(HypothesisSet(gallery, meta))
        subjects.append(s)
        roles.append("gallery")
        for _ in range(2):
            noisy = np.clip(face.astype(int) + rng.integers(-20, 21, face.shape), 0, 255).astype(np.uint8)
            probe = [noisy[::2, ::2].copy(), noisy[::4, ::4].copy()]
            sets.append(HypothesisSet(probe, make_meta(2, scale=[2, 4], kind="super-resolved", sigma=0.0, size=8)))
            subjects.append(s)
            roles.append("probe")
    return sets, np.array(subjects), np.array(roles)


def test_templates_and_grid_search_on_a_dask_cluster(client, tmp_path):
    model = make_tiny_onnx(tmp_path / "tiny.onnx", size=16)
    sets, subjects, roles = hypothesis_sets(12, np.random.default_rng(0))

    local = TemplateExtractor(model, batch_size=8).fit().transform(sets)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        remote = TemplateExtractor(model, batch_size=8, n_jobs=2).fit().transform(sets)
    workers = {task["worker"] for task in stream.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    for a, b in zip(local, remote):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)

    templates = TemplateExtractor(model, batch_size=8)
    pipe = Pipeline([("templates", templates), ("identify", FusedNearestNeighborIdentifier())])
    grid = {"identify__fusion": ["S_max", "S_add", "S_max/S_add"], "identify__scales": [None, (2,), (4,)]}
    cv = RepeatedSubjectSubsampling(6, n_repeats=2, random_state=0)
    search = GridSearchCV(pipe, grid, cv=cv)
    search.fit(sets, subjects, groups=roles)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = GridSearchCV(pipe, grid, cv=cv, n_jobs=2).fit(sets, subjects, groups=roles)
    assert len(stream.data) >= len(search.cv_results_["params"])
    np.testing.assert_allclose(on_cluster.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"])
    assert on_cluster.best_params_ == search.best_params_
    # The tiny network separates these subjects well above chance (1 in 6).
    assert search.best_score_ > 0.5
