"""Run by tests/test_finetune_ddp.py, alone or under torchrun: fine-tune on a folder and save the trained weights.
Usage: python tests/ddp_finetune_worker.py FOLDER OUT_PREFIX CACHE_DIR [SKETCHES] (with SKETCHES: the two towers)"""
import sys

import torch
import torch.distributed as dist

from rsr_nb.finetune import FineTunedCNN, FineTunedCrossModal

folder, prefix, cache = sys.argv[1:4]
world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
if world > 1:
    dist.init_process_group("gloo")
rank = dist.get_rank() if world > 1 else 0
kw = dict(input_size=64, epochs=3, batch_size=16, patience=10, validation_fraction=0.25, cache_dir=cache, seed=0)
if len(sys.argv) > 4:
    est = FineTunedCrossModal(**kw).fit(folder, sys.argv[4], show_progress=False)
    state = est.towers_.state_dict()
else:
    est = FineTunedCNN(**kw).fit(folder, show_progress=False)
    state = est.top_.state_dict()
torch.save({"state": state, "history": est.history_}, f"{prefix}_rank{rank}.pt")
if world > 1:
    dist.destroy_process_group()
