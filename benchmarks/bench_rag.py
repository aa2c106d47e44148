"""Time region adjacency graph building (rsr_nb.graphs.rag) on the real UC Merced tiles: graphs per second with
`--n-jobs` worker processes into an empty cache, then the same call again, served from the cache. Prints the
figures and one JSON line; nothing is asserted (targets are read by people). Needs UC Merced under $RSR_DATA.

    python benchmarks/bench_rag.py                # all 2,100 tiles, 2 workers (the CI machine has 2 cores)
    python benchmarks/bench_rag.py --limit 200    # 200 tiles spread over the 21 classes
    python benchmarks/bench_rag.py --survey       # also: regions per tile for several SLIC settings (63 tiles)
"""
import argparse, json, os, shutil, tempfile, time
from pathlib import Path

import numpy as np


def survey(files) -> list[dict]:
    "Regions per tile for several SLIC settings on 3 tiles per class: how the compactness default was chosen."
    from rsr_nb.graphs.rag import RAGParams, _read_image, superpixels

    tiles = [_read_image(files[c * 100 + i][0]) for c in range(21) for i in (0, 37, 74)]
    settings = {
        "vl_slic literal: m=sqrt(50), min 1/36": RAGParams.from_vl_slic(20, 50),
        "m=sqrt(50), min 1/4": RAGParams.from_vl_slic(20, 50, min_size_factor=0.25),
        "m=10, min 1/4": RAGParams(compactness=10.0),
        "m=20, min 1/4 (default)": RAGParams(),
        "m=20, min 1/2": RAGParams(min_size_factor=0.5),
        "m=30, min 1/4": RAGParams(compactness=30.0),
    }
    rows = []
    for name, p in settings.items():
        n = np.array([superpixels(t, p).max() + 1 for t in tiles])
        rows.append({"setting": name, "tiles": len(n), "median": float(np.median(n)), "min": int(n.min()),
                     "max": int(n.max()), "under_50": int((n < 50).sum()), "over_400": int((n > 400).sum())})
        print(f"  {name:40s} regions per tile: median {np.median(n):5.0f}  min {n.min():4d}  max {n.max():5d}  "
              f"<50: {(n < 50).sum():2d}  >400: {(n > 400).sum():2d}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="use N tiles spread over the classes (default: all)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--cache-dir", default=None, help="cache folder to use (default: a temporary one, deleted)")
    ap.add_argument("--survey", action="store_true", help="also count regions per tile for several SLIC settings")
    a = ap.parse_args()
    from rsr_nb.core import data_root
    from rsr_nb.data.ucmerced import scan_ucmerced
    from rsr_nb.graphs.rag import RAGParams, _read_image, build_graphs, image_to_graph

    files = scan_ucmerced(data_root() / "ucmerced")
    pick = files if a.limit is None else [files[i] for i in np.linspace(0, len(files) - 1, a.limit).round().astype(int)]
    paths = [p for p, _ in pick]
    cache = Path(a.cache_dir) if a.cache_dir else Path(tempfile.mkdtemp(prefix="bench_rag_"))
    out = {"tiles": len(paths), "n_jobs": a.n_jobs, "cpus": os.cpu_count(), "params": RAGParams().key()}
    try:
        # one process, no cache: time per tile (reading the file included)
        t = time.perf_counter()
        for p in paths[:20]:
            image_to_graph(_read_image(p), keep_segments=False)
        out["one_process_ms_per_tile"] = 1000 * (time.perf_counter() - t) / min(20, len(paths))
        t = time.perf_counter()
        cold = build_graphs(paths, cache_dir=cache, n_jobs=a.n_jobs, progress=True)
        out["cold_s"] = time.perf_counter() - t
        out["cold_graphs_per_s"] = len(paths) / out["cold_s"]
        out["cold_computed"] = cold.n_computed
        t = time.perf_counter()
        warm = build_graphs(paths, cache_dir=cache, n_jobs=a.n_jobs, progress=False)
        out["cached_s"] = time.perf_counter() - t
        out["cached_computed"], out["cached_read"] = warm.n_computed, warm.n_cached
        out["cache_mb"] = sum(f.stat().st_size for f in cold.cache.glob("*.npz")) / 2**20
        nodes = np.array([g.num_nodes for g in cold])
        edges = np.array([g.num_edges // 2 for g in cold])
        out.update(nodes_mean=float(nodes.mean()), nodes_min=int(nodes.min()), nodes_max=int(nodes.max()),
                   adjacencies_mean=float(edges.mean()))
        print(f"{len(paths)} UC Merced tiles, {a.n_jobs} workers ({os.cpu_count()} CPUs here)")
        print(f"  one process:     {out['one_process_ms_per_tile']:.0f} ms per tile (20 tiles)")
        print(f"  empty cache:     {out['cold_s']:.1f} s = {out['cold_graphs_per_s']:.1f} graphs/s")
        print(f"  from the cache:  {out['cached_s']:.2f} s ({warm.n_cached} read, {warm.n_computed} computed)")
        print(f"  cache size:      {out['cache_mb']:.1f} MB ({1024 * out['cache_mb'] / len(paths):.0f} KB per tile)")
        print(f"  regions / tile:  mean {nodes.mean():.0f}, min {nodes.min()}, max {nodes.max()}; "
              f"adjacent pairs: mean {edges.mean():.0f}")
        if a.survey:
            print("survey, 3 tiles per class:")
            out["survey"] = survey(files)
    finally:
        if not a.cache_dir:
            shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
