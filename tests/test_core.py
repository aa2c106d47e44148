import json
import os

import numpy as np
import pytest

from rsr_nb.core import data_root, seed_everything, write_json_atomic


def test_atomic_write_keeps_old_file_when_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json_atomic(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"], "a temporary file was left behind"


def test_nan_is_written_as_null(tmp_path):
    p = write_json_atomic(tmp_path / "x.json", {"a": [1.0, float("inf"), np.nan]})
    assert json.loads(p.read_text()) == {"a": [1.0, None, None]}


def test_data_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RSR_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()


def test_seed_is_deterministic_for_torch_training_step():
    import torch

    def step():
        seed_everything(3)
        m = torch.nn.Linear(8, 2)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        x = torch.randn(16, 8)
        loss = m(x).pow(2).mean()
        loss.backward(); opt.step()
        return m.weight.detach().clone()

    assert torch.equal(step(), step())
