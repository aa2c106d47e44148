"""Property checks of rsr_nb.metrics against scikit-learn over many random configurations."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from rsr_nb.index import pairwise_similarity, prepare_features
from rsr_nb.metrics import (EXTRA_METRICS, RetrievalProtocol, average_precision, evaluate_retrieval, map_at_r,
                            mean_average_precision, paper_mean_precision, precision_at_k, r_precision, rank_statistics,
                            relevance_from_labels)


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


def brute_rp_mapr(s, r):
    "Per-query R-precision and AP@R by sorting each row: the definitions (Musgrave et al. 2020), for untied scores."
    rp, mapr = [], []
    for si, ri in zip(s, r):
        rs = ri[np.argsort(-si)].astype(float)
        n = int(rs.sum())
        if n == 0:
            rp.append(np.nan)
            mapr.append(np.nan)
            continue
        prec = np.cumsum(rs) / np.arange(1, len(rs) + 1)
        rp.append(rs[:n].sum() / n)
        mapr.append((prec * rs)[:n].sum() / n)
    return np.array(rp), np.array(mapr)


@pytest.mark.parametrize("seed", range(8))
def test_r_precision_and_map_at_r_match_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    q, g = int(rng.integers(1, 40)), int(rng.integers(2, 300))
    s = rng.normal(size=(q, g))                   # continuous: no ties
    if seed % 2:
        r = relevance_from_labels(rng.random((q, 9)) < 0.15, rng.random((g, 9)) < 0.15).numpy()
    else:
        r = rng.random((q, g)) < rng.choice([0.01, 0.1, 0.6])
    rp, mapr = brute_rp_mapr(s, r)
    st = rank_statistics(s, r)
    for ours, ref in ((EXTRA_METRICS["R-precision"](st), rp), (EXTRA_METRICS["mAP@R"](st), mapr)):
        ours = np.asarray(ours)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_allclose(np.nan_to_num(ours), np.nan_to_num(ref), atol=1e-12)


def test_r_precision_and_map_at_r_by_hand():
    # relevant at ranks 1, 3, 4 of 6 (R = 3): RP = 2/3, mAP@R = (1/1 + 2/3) / 3 = 5/9
    st = rank_statistics(np.array([[6., 5, 4, 3, 2, 1]]), np.array([[1, 0, 1, 1, 0, 0]]))
    assert float(r_precision(st)[0]) == pytest.approx(2 / 3, abs=1e-12)
    assert float(map_at_r(st)[0]) == pytest.approx(5 / 9, abs=1e-12)
    # through evaluate_retrieval: 1-D embeddings, the gallery at distances 1..6 from the query
    out = evaluate_retrieval([[0.]], [[1.], [2.], [3.], [4.], [5.], [6.]], [0], [0, 1, 0, 0, 1, 1],
                             RetrievalProtocol(ks=(3,), extra=("R-precision", "mAP@R")))
    assert out["R-precision"] == pytest.approx(2 / 3, abs=1e-12)
    assert out["mAP@R"] == pytest.approx(5 / 9, abs=1e-12)
    assert out["P@3"] == pytest.approx(2 / 3, abs=1e-12)
    assert out["mAP@all"] == pytest.approx(29 / 36, abs=1e-12)


def test_extra_metrics_through_evaluate_retrieval_with_self_exclusion():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 6))
    lab = rng.integers(0, 5, 120)
    out = evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(10,), extra=("R-precision", "mAP@R")),
                             self_index="all",
                             per_query=True,
                             chunk_size=13)
    s = pairwise_similarity(prepare_features(x, "euclidean"), prepare_features(x, "euclidean"), "euclidean").numpy()
    r = lab[:, None] == lab[None, :]
    keep = ~np.eye(120, dtype=bool)               # delete each query's own column
    rp, mapr = brute_rp_mapr(s[keep].reshape(120, 119), r[keep].reshape(120, 119))
    np.testing.assert_allclose(out["per_query"]["R-precision"], rp, atol=1e-9)
    np.testing.assert_allclose(out["per_query"]["mAP@R"], mapr, atol=1e-9)
    assert out["mAP@R"] == pytest.approx(mapr.mean(), abs=1e-9)


def test_metrics_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    lab = rng.integers(0, 7, 300)
    proto = RetrievalProtocol(ks=(5, 50), paper_ks=(10, 20, 30, 40, 50), extra=("R-precision", "mAP@R"))
    a = evaluate_retrieval(x, x, lab, lab, proto, self_index="all", chunk_size=300)
    b = evaluate_retrieval(x, x, lab, lab, proto, self_index="all", chunk_size=17)
    assert list(a) == list(b) and "meanP@10..50" in a and "mAP@R" in a
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-9), key


def test_self_index_all_and_exclude_self_false():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    lab = rng.integers(0, 3, 50)
    p10 = RetrievalProtocol(ks=(10,))
    assert evaluate_retrieval(x, x, lab, lab, p10, self_index="all") == evaluate_retrieval(x, x, lab, lab, p10,
                                                                                           self_index=np.arange(50))
    kept = RetrievalProtocol(exclude_self=False, ks=(10,))
    assert evaluate_retrieval(x, x, lab, lab, kept, self_index="all") == evaluate_retrieval(x, x, lab, lab, kept)
    # kept in its own gallery, every query finds itself first: P@1 = 1
    assert evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(exclude_self=False, ks=(1,)))["P@1"] == 1.0
    assert evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(1,)), self_index="all")["P@1"] < 1.0
    with pytest.raises(ValueError, match="self_index='all' needs the queries to be the gallery"):
        evaluate_retrieval(x[:5], x, lab[:5], lab, p10, self_index="all")
    with pytest.raises(ValueError, match="self_index must"):
        evaluate_retrieval(x[:5], x, lab[:5], lab, p10, self_index=[0, 1, 2, 3, 50])


def test_cutoffs_larger_than_the_gallery_are_refused():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 3))
    lab = rng.integers(0, 3, 20)
    with pytest.raises(ValueError, match=r"k=50 \(from ks\).*20 items"):
        evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(50,)))
    with pytest.raises(ValueError, match=r"k=20 \(from ks\).*19 items"):
        evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(20,)), self_index="all")
    with pytest.raises(ValueError, match=r"k=30 \(from paper_ks\)"):
        evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(10,), paper_ks=(10, 20, 30)))
    assert evaluate_retrieval(x, x, lab, lab, RetrievalProtocol(ks=(19,)), self_index="all")["R@19"] == 1.0
    with pytest.raises(ValueError, match="k=21"):
        precision_at_k(rng.normal(size=(2, 20)), rng.random((2, 20)) < 0.5, 21)


def test_callable_relevance():
    rng = np.random.default_rng(5)
    q, g = rng.normal(size=(30, 5)), rng.normal(size=(80, 5))
    lq, lg = rng.integers(0, 8, 30), rng.integers(0, 8, 80)
    coarse = RetrievalProtocol(ks=(10,), relevance=lambda a, b: (a[:, None] // 4) == (b[None, :] // 4))
    assert evaluate_retrieval(q, g, lq, lg, coarse, chunk_size=4) == evaluate_retrieval(q, g, lq // 4, lg // 4,
                                                                                        RetrievalProtocol(ks=(10,)))
    seen = set(range(4))     # zero-shot style: only items of unseen classes count, whatever the query
    unseen_only = RetrievalProtocol(ks=(10,), relevance=lambda a, b: torch.as_tensor(
        [[x == y and int(y) not in seen for y in b] for x in a]))
    expected = evaluate_retrieval(q, g, lq, np.where(lg < 4, -1, lg), RetrievalProtocol(ks=(10,)))
    assert evaluate_retrieval(q, g, lq, lg, unseen_only) == expected
    with pytest.raises(ValueError, match="returned shape"):
        evaluate_retrieval(q, g, lq, lg, RetrievalProtocol(ks=(10,), relevance=lambda a, b: b))


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
    with pytest.raises(ValueError, match="NaN"):
        evaluate_retrieval(np.full((3, 4), np.nan), np.ones((5, 4)), [0, 1, 2], [0] * 5, RetrievalProtocol(ks=(5,)))
    with pytest.raises(TypeError, match="protocol must be a RetrievalProtocol"):
        evaluate_retrieval(np.ones((3, 4)), np.ones((5, 4)), [0, 1, 2], [0] * 5, "cosine")


@pytest.mark.parametrize("kwargs, message", [
    (dict(metric="cosin"), "unknown metric"),
    (dict(ks=(0,)), "positive integer"),
    (dict(ks=(10, -5)), "positive integer"),
    (dict(ks=(2.5,)), "RetrievalProtocol.ks"),
    (dict(paper_ks=(10, True)), "RetrievalProtocol.paper_ks"),
    (dict(ks="10"), "tuple of cut-off ranks"),
    (dict(relevance="jaccard"), "'labels' or a callable"),
    (dict(exclude_self=1), "exclude_self"),
    (dict(extra=("R-precision", "nDCG")), "unknown metric\\(s\\) 'nDCG'"),
])
def test_protocol_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetrievalProtocol(**kwargs)


def test_protocol_normalises_and_is_frozen():
    p = RetrievalProtocol(metric="cosine", ks=[10, 5, 10], extra="mAP@R")
    assert (p.ks, p.extra) == ((10, 5), ("mAP@R",))
    assert p == RetrievalProtocol(metric="cosine", ks=(10, 5), extra=("mAP@R",))
    assert hash(p) == hash(RetrievalProtocol(metric="cosine", ks=(10, 5), extra=("mAP@R",)))
    with pytest.raises(Exception, match="cannot assign"):
        p.ks = (1,)
    with pytest.raises(TypeError, match="got a int"):
        RetrievalProtocol(relevance=3)
