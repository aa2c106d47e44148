"""Run notebooks through papermill, as a user would: parameters reach the notebook, bad values stop it early."""
import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_run_dsrsid_takes_d_v(tmp_path):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs" / "run_dsrsid.ipynb"), str(out), parameters={"d_v": 32}, cwd=str(tmp_path),
                        progress_bar=False)
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "d_v = 32" in text


def test_run_dsrsid_rejects_bad_d_v(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="d_v must be a positive integer"):
        pm.execute_notebook(str(ROOT / "nbs" / "run_dsrsid.ipynb"), str(tmp_path / "out.ipynb"), parameters={"d_v": 0},
                            cwd=str(tmp_path), progress_bar=False)
