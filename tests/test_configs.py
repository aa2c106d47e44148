"""Every paper-scale config names only parameters its run notebook knows (a typo would stop a long GPU run at once,
but better to know before starting it)."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _experiment_for(notebook: str):
    from rsr_nb.cmirnet.diagnosis import CMIRNetDiagnosis
    from rsr_nb.cmirnet.pipelines import AblationExperiment, DSRSIDExperiment, LambdaSelection, UCMSpeechExperiment
    from rsr_nb.graphs.pipelines import SGCNExperiment, UCMMultiLabelExperiment
    from rsr_nb.zscmr.aerial import AerialExperiment
    from rsr_nb.zscmr.pipelines import ZSCMRExperiment
    classes = [CMIRNetDiagnosis, AblationExperiment, DSRSIDExperiment, LambdaSelection, UCMSpeechExperiment,
               SGCNExperiment, UCMMultiLabelExperiment, ZSCMRExperiment, AerialExperiment]
    return next(c for c in classes if c.notebook == notebook)


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "paper").glob("*.yaml")), ids=lambda p: p.name)
def test_paper_config_names_known_parameters(path):
    text = path.read_text()
    nb = re.search(r"papermill (nbs/run_\w+\.ipynb)", text)
    assert nb, f"{path.name} must say which run notebook it is for (a 'papermill nbs/run_....ipynb' line)"
    known = set(_experiment_for(nb.group(1)).parameter_names())
    unknown = set(yaml.safe_load(text)) - known
    assert not unknown, f"{path.name}: unknown parameter(s) {sorted(unknown)} for {nb.group(1)}"
