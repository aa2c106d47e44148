"""Time README's first command, `papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 64`, step by step: the same library
calls on the same defaults (twin, 1 seed, every baseline), without the notebook's figures. Prints one line per step
and the total; nothing asserted (the target, <= 60 s on two CPU cores, is read off the output).

    OMP_NUM_THREADS=2 python benchmarks/bench_run_dsrsid.py [--threads 2] [--no-baselines] [--pan-stem-stride 1]
                                                           [--pan-width 16]

What-ifs for the PAN CNN (compare their printed mAPs with the default run's before adopting one):
`--pan-stem-stride 1` is the full-resolution first block the library used before its PAN CNN got a strided stem;
`--pan-width 16` a PAN CNN half as wide (the library's has width 32).
"""
import argparse
import json
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--pan-width", type=int, default=0, help="what-if: width of the PAN CNN (0: the library's)")
    ap.add_argument("--pan-stem-stride", type=int, default=0, help="what-if: PAN CNN stem stride (0: the library's)")
    a = ap.parse_args()
    os.environ.setdefault("RSR_PROGRESS", "0")
    torch.set_num_threads(a.threads)
    from rsr_nb.cmirnet import pipelines
    from rsr_nb.cmirnet.pipelines import DSRSIDExperiment, load_dsrsid, run_dsrsid

    if a.pan_width or a.pan_stem_stride:
        from rsr_nb.backbones import SmallCNN

        def cnn(in_channels, input_size, feat_dim=128, width=32, stem_stride=1):
            if in_channels == 1:  # the PAN CNN
                width, stem_stride = a.pan_width or width, a.pan_stem_stride or stem_stride
            return SmallCNN(in_channels, input_size, feat_dim, width=width, stem_stride=stem_stride)

        pipelines.SmallCNN = cnn
    cfg = DSRSIDExperiment(d_v=64, show_figures=False, **({"baselines": []} if a.no_baselines else {}))
    t0 = time.perf_counter()
    data = load_dsrsid(cfg)
    steps = {"render the twin (800 pairs)": time.perf_counter() - t0}
    run = run_dsrsid(cfg, data)
    steps.update(run.timings)
    total = time.perf_counter() - t0
    for k, v in steps.items():
        print(f"{k:32s} {v:7.1f} s")
    pan = f"pan_width={a.pan_width or 32} pan_stem_stride={a.pan_stem_stride or 2}"
    print(f"{'total (without the notebook)':32s} {total:7.1f} s   threads={a.threads} {pan}")
    for method in ("CMIR-NET", "Stage 1 only", "Label space (stage 1)"):
        rows = [r for r in run.rows if r["method"] == method and r["metric"] == "mAP@all"]
        print(f"{method:24s} mAP@all", json.dumps({r["task"]: round(r["value"], 2) for r in rows}))


if __name__ == "__main__":
    main()
