import numpy as np
import pytest
import torch

from rsr_nb import index
from rsr_nb.index import knn


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "l1", "dot"])
def test_faiss_and_torch_agree(metric, monkeypatch):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 32)).astype(np.float32)
    s_f, i_f = knn(x[:100], x, k=15, metric=metric, backend="faiss")
    s_t, i_t = knn(x[:100], x, k=15, metric=metric, backend="torch", chunk_size=37)
    assert torch.equal(i_f, i_t)
    assert torch.allclose(s_f, s_t, atol=5e-3)  # float32 rounding of matrix-product distances near 0
    # 'auto' without faiss installed gives the torch answer
    monkeypatch.setattr(index, "_faiss", lambda: None)
    s_a, i_a = knn(x[:100], x, k=15, metric=metric)
    assert torch.equal(i_a, i_t)


def test_exclude_self_with_faiss():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    _, i_f = knn(x, x, k=5, exclude_self=True, backend="faiss")
    _, i_t = knn(x, x, k=5, exclude_self=True, backend="torch")
    assert torch.equal(i_f, i_t)
    assert not (i_f == torch.arange(200)[:, None]).any()


def test_faiss_backend_without_faiss_says_how_to_install(monkeypatch):
    monkeypatch.setattr(index, "_faiss", lambda: None)
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        knn(np.ones((2, 3)), np.ones((4, 3)), k=1, backend="faiss")
