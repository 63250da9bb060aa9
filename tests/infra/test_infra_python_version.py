"""`python_version` picks the Lambda runtime of every function and the Python the dependency layer is built for."""

from __future__ import annotations

from infra_template import synthesize

from infra.layer import pip_command
from infra.names import FUNCTIONS_REQUIREMENTS


def test_python_version_sets_every_runtime_and_the_layer(tmp_path):
    synth = synthesize({"python_version": "3.11", "nag": False}, tmp_path)
    runtimes = {props["Runtime"] for _, props in synth.functions().values()}
    assert runtimes == {"python3.11"}
    (layer,) = synth.resources("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]


def test_layer_is_built_for_that_python():
    command = " ".join(pip_command(FUNCTIONS_REQUIREMENTS, tmp := FUNCTIONS_REQUIREMENTS.parent, "3.11"))
    assert "--python-version 3.11" in command and str(tmp) in command
