"""Every example script runs with --quick (as keras-io examples shrink for CI)."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", [
    ("jets4.py", "jets4: AUC QCD vs top"),
    ("jets9.py", "jets9: AUC QCD vs top"),
    ("jets16.py", "jets16: AUC QCD vs top"),
    ("oneoff_invertibility.py", "mixed"),
    ("anomaly_scores.py", "observables"),
    ("digits_oneoff.py", "IsolationForest"),
    ("karate_club.py", "karate club: median accuracy"),
    ("digits_chebconv.py", "digits: ChebConv median test accuracy"),
    ("cosmic_rays.py", "cosmic rays: test accuracy, EdgeConv vs pair statistic"),
    ("top_tagging.py", "top tagging: ParticleNet-Lite vs gradient boosting"),
    ("ucluster.py", "ucluster: figures in"),
    ("ucluster_enrichment.py", "ucluster enrichment: done"),
    ("generate_jets.py", "generate_jets: figures in"),
])
def test_example_runs_quick(script, expected, tmp_path, script_env):
    result = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick"], cwd=tmp_path,
                            env=script_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert expected in result.stdout
