"""Guards on what each fit of the graph methods actually receives, not on the split the pipeline records.

Every training entry point of the two graph pipelines, in the pipelines and in the own-data estimators they train
through (the GCN, with its early-stopping validation graphs; the Siamese
head; the multi-label threshold chosen on validation; the paper's baselines and the logistic reference) is replaced
by a spy that records the images it is handed, then calls the real function. Images are identified by what arrives:
graphs by identity (and their edges compared with the region adjacency), feature rows by a tag column that holds the
image's index (the spies put it into the GCN outputs, the mean node features and the ImageNet features), probabilities
by a tag logit. The test images are the ones actually scored as queries (SGCN) or predicted for the scores
(multi-label). A pipeline that trains, stops early or picks a threshold on a test image fails here, and so does a GCN
that runs without its edges. Tiny twins: a few seconds each."""
import dataclasses
from collections import defaultdict

import numpy as np
import pytest
import torch

from rsr_nb.graphs import estimators as E
from rsr_nb.graphs import model as M
from rsr_nb.graphs import pipelines as P
from rsr_nb.graphs.model import GCN, Batch, Data, gcn_outputs, graph_batches, train_gcn
from rsr_nb.graphs.rag import image_to_graph
from rsr_nb.data.sources import dataset_items
from rsr_nb.metrics import evaluate_retrieval

TINY = dict(n_per_class=6, image_size=48, region_size=12, epochs=2, backbone_input=32, n_jobs=1, show_figures=False,
            finetune_epochs=1)
# two test images a class, so that the test-images gallery holds a relevant image for every query
TINY_SGCN = dict(TINY, n_per_class=10, siamese_epochs=2, pairs_per_epoch=64, validation_fraction=0.25)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("graph_cache"))


@pytest.fixture(scope="module")
def sgcn_data(cache):
    cfg = P.SGCNExperiment(**TINY_SGCN, cache_dir=cache)
    return cfg, P.load_graph_data(cfg, "ucmerced")


@pytest.fixture(scope="module")
def ml_data(cache):
    cfg = P.UCMMultiLabelExperiment(**TINY, cache_dir=cache)
    data = P.load_graph_data(cfg, "ucmerced", multilabel=True)
    cnn = data.cnn.clone()
    cnn[:, 0] = torch.arange(len(cnn), dtype=cnn.dtype)  # tag: row i of any slice says it is image i
    return cfg, dataclasses.replace(data, cnn=cnn)


def _tag_logit(idx: torch.Tensor, n: int) -> torch.Tensor:
    return (idx.double() + 0.5) / n * 8 - 4  # distinct logits in (-4, 4): sigmoid keeps them apart


class Spy:
    "Records, per call, the image indices each training entry point of `rsr_nb.graphs.pipelines` receives."

    def __init__(self, monkeypatch, data):
        self.data, self.n = data, len(data.graphs)
        self.index = {id(g): i for i, g in enumerate(data.graphs)}
        self.edges = [g.edge_index.clone() for g in data.graphs]
        self.events = []  # (what, indices, extra) in call order
        for name in ("train_gcn", "gcn_outputs", "train_siamese", "choose_threshold", "evaluate_tasks",
                     "mean_node_features", "multilabel_baselines", "logistic_multilabel"):
            for module in (P, E):  # the pipelines train through the own-data estimators
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, getattr(self, name))

    def images(self, graphs, what) -> np.ndarray:
        "Indices of `graphs` in the data; each must be the data's own graph, its edges intact."
        idx = []
        for g in graphs:
            i = self.index.get(id(g))
            assert i is not None, f"{what} received a graph that is not one of the data's graphs"
            assert g.edge_index.shape[1] > 0 and torch.equal(g.edge_index, self.edges[i]), (
                f"{what} received image {i} without its region adjacency ({g.edge_index.shape[1]} edges, "
                f"{self.edges[i].shape[1]} built)")
            idx.append(i)
        return np.array(idx)

    def tagged(self, x, what) -> np.ndarray:
        "Indices from a feature matrix whose column 0 is the image index (the spies' tag)."
        t = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)[:, 0]
        idx = np.rint(t).astype(int)
        assert np.all(np.abs(t - idx) < 1e-6) and idx.min() >= 0 and idx.max() < self.n, (
            f"{what} received feature rows that are not the data's images: {t[:5]}")
        return idx

    def train_gcn(self, model, graphs, targets, *a, val_graphs=None, **kw):
        fit = self.images(graphs, "train_gcn")
        val = self.images(val_graphs, "train_gcn (validation)") if val_graphs is not None else np.array([], int)
        task = kw.get("task", a[0] if a else "multilabel")
        truth = self.data.labels[fit] if task == "multilabel" else self.data.scenes[fit]
        assert torch.equal(torch.as_tensor(targets).to(truth.dtype), truth), "train_gcn's targets are not its images'"
        self.events.append(("gcn", fit, {"validation": val, "task": task}))
        return M.train_gcn(model, graphs, targets, *a, val_graphs=val_graphs, **kw)

    def gcn_outputs(self, model, graphs, *a, **kw):
        idx = torch.as_tensor(self.images(graphs, "gcn_outputs"))
        out = M.gcn_outputs(model, graphs, *a, **kw)
        out["embedding"][:, 0] = idx.to(out["embedding"].dtype)
        out["logits"][:, 0] = _tag_logit(idx, self.n).to(out["logits"].dtype)
        return out

    def train_siamese(self, features, labels, *a, **kw):
        idx = self.tagged(features, "train_siamese")
        assert torch.equal(torch.as_tensor(labels), self.data.scenes[idx]), "Siamese head: labels not its images'"
        self.events.append(("siamese", idx, {}))
        return M.train_siamese(features, labels, *a, **kw)

    def choose_threshold(self, y_val, scores_val, *a, **kw):
        p = np.asarray(scores_val, dtype=np.float64)[:, 0].clip(1e-12, 1 - 1e-12)
        pos = (np.log(p / (1 - p)) + 4) / 8 * self.n - 0.5
        idx = np.rint(pos).astype(int)
        assert np.all(np.abs(pos - idx) < 0.05), "choose_threshold received scores that are not the GCN's"
        assert np.array_equal(np.asarray(y_val), self.data.labels[idx].numpy().astype(np.asarray(y_val).dtype)), (
            "choose_threshold's labels are not its images'")
        self.events.append(("threshold", idx, {}))
        return _real_choose_threshold(y_val, scores_val, *a, **kw)

    def evaluate_tasks(self, emb, labels, queries, tasks, protocol, per_query=False, gallery=None):
        for t in tasks:
            n = len(emb[t.gallery])
            g = np.arange(n) if gallery is None else np.asarray(gallery[t.gallery])
            self.events.append(("evaluate", np.asarray(queries[t.query]), {"gallery": g}))
        return _real_evaluate_tasks(emb, labels, queries, tasks, protocol, per_query=per_query, gallery=gallery)

    def mean_node_features(self, graphs):
        f = _real_mean_node_features(graphs)
        f[:, 0] = self.images(graphs, "mean_node_features")
        return f

    def _record(self, name, est):
        spy = self

        class Recorder:
            def fit(self, X, y):
                idx = spy.tagged(X, f"{name}.fit")
                assert np.array_equal(np.asarray(y), spy.data.labels[idx].numpy().astype(np.asarray(y).dtype)), name
                spy.events.append(("fit " + name, idx, {}))
                est.fit(X, y)
                return self

            def _seen(self, X):
                spy.events.append(("predict " + name, spy.tagged(X, f"{name}.predict"), {}))
                return X

            def predict(self, X):
                return est.predict(self._seen(X))

            def __getattr__(self, attr):  # predict_proba / decision_function, as the estimator has them
                f = getattr(est, attr)
                return (lambda X: f(self._seen(X))) if attr in ("predict_proba", "decision_function") else f

        return Recorder()

    def multilabel_baselines(self, *a, **kw):
        return {k: self._record(k, e) for k, e in _real_multilabel_baselines(*a, **kw).items()}

    def logistic_multilabel(self, *a, **kw):
        return self._record("LogReg", _real_logistic_multilabel(*a, **kw))

    def per_seed(self) -> list[list]:
        "The events cut at each GCN fit: one list per seed."
        out = []
        for e in self.events:
            if e[0] == "gcn":
                out.append([])
            assert out, f"{e[0]} before any GCN was trained"
            out[-1].append(e)
        return out


_real_evaluate_tasks, _real_mean_node_features = P.evaluate_tasks, P.mean_node_features
_real_multilabel_baselines, _real_logistic_multilabel = P.multilabel_baselines, P.logistic_multilabel
_real_choose_threshold = P.choose_threshold


def _only(events, what):
    found = [e for e in events if e[0] == what]
    assert len(found) == 1, f"{what}: {len(found)} calls in one seed, expected 1"
    return found[0]


def _apart(a, b, what):
    both = np.intersect1d(a, b)
    assert not len(both), f"{what}: {len(both)} test images, e.g. {both[:5].tolist()}"


def test_sgcn_trains_on_training_images_only(monkeypatch, sgcn_data):
    "The GCN, its early stopping and the Siamese head see training images only; the queries are the test images."
    cfg, data = sgcn_data
    spy = Spy(monkeypatch, data)
    out = P.run_sgcn(dataclasses.replace(cfg, seeds=[0, 1]), data)
    seeds = spy.per_seed()
    assert len(seeds) == 2
    for seed, events in zip([0, 1], seeds):
        _, fit, info = _only(events, "gcn")
        val = info["validation"]
        queries = {tuple(e[1]) for e in events if e[0] == "evaluate"}
        assert len(queries) == 1, "every embedding and gallery is scored on the same queries"
        test = np.array(queries.pop())
        _apart(fit, test, "GCN trained on test images")
        _apart(val, test, "GCN stopped early on test images")
        _apart(fit, val, "GCN validation images also trained on")
        _, siamese, _ = _only(events, "siamese")
        _apart(siamese, test, "Siamese head trained on test images")
        train = np.union1d(fit, val)
        assert set(siamese) == set(train), "the Siamese head trains on every training image, the GCN's validation too"
        assert set(train) | set(test) == set(range(len(data.graphs)))
        # the recorded split is the one the fits received
        assert set(out.splits[seed]["test"]) == set(test) and set(out.splits[seed]["train"]) == set(train)


def test_multilabel_fits_and_threshold_see_no_test_image(monkeypatch, ml_data):
    "The GCN, its early stopping, the validation threshold and every baseline: no test image, no validation leak."
    cfg, data = ml_data
    spy = Spy(monkeypatch, data)
    out = P.run_ucm_multilabel(dataclasses.replace(cfg, seeds=[0, 1]), data)
    seeds = spy.per_seed()
    assert len(seeds) == 2
    for seed, events in zip([0, 1], seeds):
        _, fit, info = _only(events, "gcn")
        val = info["validation"]
        scored = {tuple(e[1]) for e in events if e[0].startswith("predict ")}
        assert len(scored) == 1, "every baseline is scored on the same test images"
        test = np.array(scored.pop())
        assert set(test) == set(out.splits[seed]["test"])
        _apart(fit, test, "multi-label GCN trained on test images")
        _apart(val, test, "multi-label GCN stopped early on test images")
        _apart(fit, val, "multi-label GCN trained on its validation images")
        _, thr, _ = _only(events, "threshold")
        _apart(thr, test, "threshold chosen on test images")
        assert set(thr) == set(val), "the threshold is chosen on the validation images, all of them"
        for name in ("SVC", "ML-kNN", "Gaussian NB", "LogReg"):
            _, idx, _ = _only(events, "fit " + name)
            _apart(idx, test, f"{name} trained on test images")
            assert set(idx) == set(fit), f"{name} trains on the GCN's training images"


def test_galleries_are_what_their_rows_say(monkeypatch, sgcn_data):
    """Test queries against three galleries: the other test images (headline), the training images only, every other
    image. Each row's number is recomputed here from the embeddings on the gallery its name says."""
    cfg, data = sgcn_data
    spy = Spy(monkeypatch, data)
    out = P.run_sgcn(dataclasses.replace(cfg, seeds=[0]), data)
    test = out.last["test"]
    train = np.setdiff1d(np.arange(len(data.graphs)), test)
    got = {tuple(sorted(e[2]["gallery"])) for e in spy.events if e[0] == "evaluate"}
    assert got == {tuple(sorted(test)), tuple(train), tuple(range(len(data.graphs)))}
    y = data.scenes
    gal = {"test images": (test, np.arange(len(test))), "training images": (train, None),
           "all images": (np.arange(len(y)), test)}
    rows = {(r["gallery"], r["method"], r["metric"]): r for r in out.rows}
    assert {g for g, _, _ in rows} == set(gal)
    for method, emb in out.last["embeddings"].items():
        for name, (g, self_index) in gal.items():
            res = evaluate_retrieval(emb[test], emb[g], y[test], y[g], P.SGCN_PROTOCOL,
                                     self_index=None if self_index is None else torch.as_tensor(self_index))
            for metric in ("mAP@all", "P@10"):
                row = rows[(name, method, metric)]
                assert row["value"] == pytest.approx(100 * res[metric], abs=1e-9), (name, method, metric)


def test_paper_number_stands_beside_the_all_images_gallery_only(sgcn_data):
    "Where protocols match: the paper's number only on SGCN's all-images rows, labelled as favouring trained methods."
    cfg, data = sgcn_data
    cfg = dataclasses.replace(cfg, seeds=[0])
    cfg.data = "real"  # what a real run would label (the twin's data are already loaded)
    out = P.run_sgcn(cfg, data)
    with_paper = [r for r in out.rows if r["paper"] is not None]
    assert {(r["method"], r["gallery"], r["metric"]) for r in with_paper} == {
        ("SGCN", "all images", "mAP@all"), ("SGCN", "all images", "P@10")}
    assert all("favours" in r["paper_protocol"] for r in with_paper)


def _structure_toys(n_graphs: int, seed: int = 0) -> list:
    """Paths of 8 nodes with two hot nodes, side by side (class 1) or apart (class 0): every graph has the same
    multiset of node features (up to noise), so only the edges tell the classes apart."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_graphs):
        cls = k % 2
        x = torch.zeros(8, 2)
        x[[2, 3] if cls else [1, 5], 0] = 1.0
        x[:, 1] = torch.as_tensor(rng.normal(0, 0.1, 8), dtype=torch.float32)
        ei = torch.tensor([[i, i + 1] for i in range(7)] + [[i + 1, i] for i in range(7)]).T
        out.append(Data(x=x, edge_index=ei, edge_weight=torch.ones(ei.shape[1]), y=torch.tensor([cls])))
    return out


def test_gcn_needs_its_edges():
    "Classes that differ only in which nodes are adjacent: learnt with the edges, at chance without them."
    tr, va = _structure_toys(80), _structure_toys(40, seed=1)
    ytr, yva = torch.tensor([g.y.item() for g in tr]), torch.tensor([g.y.item() for g in va])
    m, _ = train_gcn(GCN(2, 2, hidden=(16,), embed_dim=16, dropout=0.0), tr, ytr, task="multiclass", epochs=15,
                     batch_size=16, lr=1e-2)
    acc = (gcn_outputs(m, va)["logits"].argmax(1) == yva).float().mean()
    assert acc >= 0.9, f"the GCN did not learn adjacency: validation accuracy {acc:.2f}"
    no_edges = [Data(x=g.x, edge_index=g.edge_index[:, :0], edge_weight=g.edge_weight[:0]) for g in va]
    e, e0 = gcn_outputs(m, va)["embedding"], gcn_outputs(m, no_edges)["embedding"]
    assert not torch.allclose(e, e0, atol=1e-4), "the GCN's output does not change when its edges are removed"
    heavier = [Data(x=g.x, edge_index=g.edge_index, edge_weight=3 * g.edge_weight) for g in va]
    assert not torch.allclose(e, gcn_outputs(m, heavier)["embedding"], atol=1e-4), "edge weights are ignored"


def test_batches_carry_every_edge():
    "graph_batches and gcn_outputs hand the convolutions every graph's edges (a block-diagonal batch)."
    gs = _structure_toys(10)
    batches = list(graph_batches(gs, torch.arange(10), batch_size=4, seed=0)(0))
    assert sum(b.edge_index.shape[1] for b, _ in batches) == sum(g.edge_index.shape[1] for g in gs)
    assert sum(b.edge_weight.shape[0] for b, _ in batches) == sum(g.edge_weight.shape[0] for g in gs)
    m = GCN(2, 2, hidden=(8,), embed_dim=8).set_node_statistics(gs).eval()
    one_by_one = torch.cat([m(Batch.from_data_list([g]))["embedding"] for g in gs])
    assert torch.allclose(gcn_outputs(m, gs, batch_size=3)["embedding"], one_by_one, atol=1e-5)


def test_graphs_carry_the_region_adjacency(sgcn_data):
    "The pipelines' graphs: every image's adjacency as the region graph builder gives it, with positive weights."
    cfg, data = sgcn_data
    assert all(g.edge_index.shape[1] > 0 for g in data.graphs), "a graph without edges"
    for i in (0, len(data.graphs) // 2, len(data.graphs) - 1):
        image = (data.dataset[i]["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        ref = image_to_graph(image, cfg.rag_params())
        assert np.array_equal(data.graphs[i].edge_index.numpy(), ref.edge_index), f"image {i}: other edges"
        assert data.graphs[i].edge_weight.shape[0] == ref.num_edges and (data.graphs[i].edge_weight > 0).all()


def test_pipeline_convolutions_receive_edges(monkeypatch, sgcn_data):
    "Every graph convolution the SGCN pipeline runs (training and embedding) is given the batch's edges."
    cfg, data = sgcn_data
    seen = defaultdict(list)
    real = M.GCNConv.forward

    def forward(self, x, edge_index, edge_weight=None):
        seen["nodes"].append(x.shape[0])
        seen["edges"].append(edge_index.shape[1])
        return real(self, x, edge_index, edge_weight)

    monkeypatch.setattr(M.GCNConv, "forward", forward)
    P.run_sgcn(dataclasses.replace(cfg, seeds=[0]), data)
    assert seen["edges"] and min(seen["edges"]) > 0, "a graph convolution ran without edges"
    per_node = sum(g.edge_index.shape[1] for g in data.graphs) / sum(g.num_nodes for g in data.graphs)
    ratio = np.array(seen["edges"]) / np.array(seen["nodes"])
    assert abs(ratio.mean() / per_node - 1) < 0.25, (ratio.mean(), per_node)


from rsr_nb.finetune import FineTunedCNN as _FT  # noqa: E402

_real_finetune_fit = _FT.fit


def _finetune_spy(monkeypatch, data) -> list:
    "Record, per FineTunedCNN.fit, the image indices it trains on and validates on (images known by their pixels)."
    from rsr_nb.finetune import FineTunedCNN
    from rsr_nb.data.sources import image_source

    index = {np.ascontiguousarray(x).tobytes(): i for i, x in enumerate(dataset_items(data.dataset))}
    seen, real_fit = [], _real_finetune_fit

    def fit(self, images, labels=None, validation=None, **kw):
        ids = lambda src: np.array([index[np.ascontiguousarray(x).tobytes()] for x in image_source(src).items])
        seen.append((ids(images), ids(validation) if validation is not None else np.array([], int)))
        return real_fit(self, images, labels, validation=validation, **kw)

    monkeypatch.setattr(FineTunedCNN, "fit", fit)
    return seen


def test_finetuned_baselines_see_no_test_image(monkeypatch, sgcn_data, ml_data):
    "The fine-tuned CNN rows: trained, stopped early and thresholded on training and validation images only."
    cfg, data = sgcn_data
    seen = _finetune_spy(monkeypatch, data)
    out = P.run_sgcn(dataclasses.replace(cfg, seeds=[0, 1]), data)
    assert len(seen) == 2
    for seed, (fit, _) in zip([0, 1], seen):
        assert set(fit) == set(out.splits[seed]["train"]), "the fine-tuned CNN trains on the training images, all"
        _apart(fit, out.splits[seed]["test"], "fine-tuned CNN trained on test images")
    cfg, data = ml_data
    seen = _finetune_spy(monkeypatch, data)
    out = P.run_ucm_multilabel(dataclasses.replace(cfg, seeds=[0]), data)
    (fit, val), = seen
    split = out.splits[0]
    assert set(fit) == set(split["train"]) and set(val) == set(split["validation"])
    _apart(np.r_[fit, val], split["test"], "fine-tuned multi-label CNN trained or thresholded on test images")
