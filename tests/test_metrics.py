"""Property checks of rsr_nb.metrics against scikit-learn over many random configurations."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from rsr_nb.metrics import (average_precision, evaluate_retrieval, mean_average_precision, paper_mean_precision,
                            precision_at_k, relevance_from_labels)


def sk_ap(s, r):
    return np.array([average_precision_score(r[i], s[i]) if r[i].any() else np.nan for i in range(len(s))])


@pytest.mark.parametrize("seed", range(12))
def test_ap_matches_sklearn_with_ties_and_multilabel(seed):
    rng = np.random.default_rng(seed)
    q, g = rng.integers(1, 30), rng.integers(2, 400)
    levels = rng.choice([0, 2, 5, 1000])          # 0: continuous, else quantised to that many levels (ties)
    s = rng.normal(size=(q, g))
    if levels: s = np.round(s * levels / 4) / levels
    if seed % 2:
        r = relevance_from_labels(rng.random((q, 17)) < 0.2, rng.random((g, 17)) < 0.2).numpy()
    else:
        r = relevance_from_labels(rng.integers(0, 6, q), rng.integers(0, 6, g)).numpy()
    ours, ref = average_precision(s, r, chunk_size=int(rng.integers(1, 40))), sk_ap(s, r)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(np.nan_to_num(ours), np.nan_to_num(ref), atol=1e-6)


def test_metrics_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    lab = rng.integers(0, 7, 300)
    a = evaluate_retrieval(x, x, lab, lab, ks=(5, 50), exclude_self=True, paper_ks=(10, 20, 30, 40, 50), chunk_size=300)
    b = evaluate_retrieval(x, x, lab, lab, ks=(5, 50), exclude_self=True, paper_ks=(10, 20, 30, 40, 50), chunk_size=17)
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-9), key


def test_scores_in_torch_or_numpy_give_the_same_result():
    rng = np.random.default_rng(1)
    s, r = rng.normal(size=(10, 50)), rng.random((10, 50)) < 0.3
    assert mean_average_precision(s, r) == pytest.approx(mean_average_precision(torch.tensor(s), torch.tensor(r)))


def test_paper_protocol_is_the_mean_of_precisions():
    rng = np.random.default_rng(2)
    s, r = rng.normal(size=(20, 120)), rng.random((20, 120)) < 0.5
    order = np.argsort(-s, 1)
    rs = np.take_along_axis(r, order, 1)
    expected = np.mean([rs[:, :k].mean(1) for k in (10, 20, 30, 40, 50)], axis=0).mean()
    assert paper_mean_precision(s, r) == pytest.approx(expected, abs=1e-12)
    assert precision_at_k(s, r, 10) == pytest.approx(rs[:, :10].mean(), abs=1e-12)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="dimensions differ"):
        evaluate_retrieval(np.ones((3, 4)), np.ones((5, 3)), [0, 1, 2], [0] * 5)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_retrieval(np.ones((3, 4)), np.ones((5, 4)), [0, 1, 2], [0] * 5, metric="cosin")
    with pytest.raises(ValueError, match="NaN"):
        evaluate_retrieval(np.full((3, 4), np.nan), np.ones((5, 4)), [0, 1, 2], [0] * 5)
    with pytest.raises(ValueError, match="positive integer"):
        evaluate_retrieval(np.ones((3, 4)), np.ones((5, 4)), [0, 1, 2], [0] * 5, ks=(0,))
