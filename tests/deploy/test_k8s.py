"""deploy/k8s: kubectl kustomize renders it, every object validates against a pinned Kubernetes
schema (kubernetes-validate), and the manifests say what README's Kubernetes path promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.base.settings import Settings
from tests.helpers import ROOT

K8S = ROOT / "deploy/k8s"
SCHEMA_VERSION = "1.32.0"  # the oldest Kubernetes release the manifests are checked against
CUSTOM_KINDS = {"ScaledObject"}  # KEDA's CRD: not in the Kubernetes schema, checked below


def render(target: str, tmp_path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of deploy/k8s/`target`, on a copy with secret.env from the example."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # `make test` installs it (Makefile, deploytools)
        pytest.fail("kubectl is missing: apt-get install -y kubernetes-client")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secret.env"))
    shutil.copy(copy / "base/secret.env.example", copy / "base/secret.env")
    done = subprocess.run(
        [kubectl, "kustomize", str(copy / target)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def pod(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return by_kind(docs, "Deployment", name)["spec"]["template"]["spec"]


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize("target", ["base", "overlays/example", "overlays/podman"])
def test_every_object_renders_and_validates(target: str, tmp_path: Path) -> None:
    docs = render(target, tmp_path)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Job", "ConfigMap", "Secret"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        # strict: an unknown field (a typo) fails too
        kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)


def test_the_processes_of_compose_are_all_there(tmp_path: Path) -> None:
    docs = render("overlays/example", tmp_path)
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    assert deployments == {"web", "worker", "beat", "flower", "front", "redis"}
    assert by_kind(docs, "StatefulSet", "postgres")
    job = by_kind(docs, "Job", "aula-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["python", "-m", "core", "migrate"]


def test_the_podman_overlay_differs_only_where_podman_needs(tmp_path: Path) -> None:
    # Its kustomization.yaml says why each differs; tests/deploy/test_kube_play.py plays it.
    base, podman = render("base", tmp_path / "b"), render("overlays/podman", tmp_path / "p")
    assert {d["metadata"]["name"] for d in podman if d["kind"] == "Deployment"} == {
        "web", "worker", "beat", "redis"
    }  # fmt: skip
    config = next(d["data"] for d in podman if d["metadata"]["name"].startswith("aula-config"))
    assert config["DATABASE_URL"] == "sqlite:////data/aula.db"
    assert config["REDIS_URL"] == "redis://redis-pod-0:6379/0"  # podman's DNS: the pod's name
    for name in ("web", "worker", "beat"):
        ours, theirs = pod(podman, name)["containers"][0], pod(base, name)["containers"][0]
        assert ours["command"] == theirs["command"] and ours["image"] == theirs["image"], name
        assert {"name": "data", "mountPath": "/data"} in ours["volumeMounts"], name


def test_exactly_one_beat(tmp_path: Path) -> None:
    beat = by_kind(render("base", tmp_path), "Deployment", "beat")["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")


def test_probes_and_graceful_stop(tmp_path: Path) -> None:
    docs = render("base", tmp_path)
    config = env_file(K8S / "base/aula.env")
    web = pod(docs, "web")
    container = web["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/health/ready"
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    # Endpoints drop the pod during the pause, then gunicorn has its graceful timeout.
    assert web["terminationGracePeriodSeconds"] >= pause + int(config["WEB_GRACEFUL_TIMEOUT_S"])
    worker = pod(docs, "worker")
    probe = worker["containers"][0]["livenessProbe"]
    assert "exec" not in probe  # no `celery inspect ping`: no broker round trip per probe
    assert probe["tcpSocket"]["port"] == "metrics"
    ports = {p["name"]: p["containerPort"] for p in worker["containers"][0]["ports"]}
    assert str(ports["metrics"]) == config["WORKER_METRICS_PORT"]
    assert worker["terminationGracePeriodSeconds"] > int(config["WORKER_SHUTDOWN_GRACE_S"])


def test_config_and_secret_hold_settings_of_env_example(tmp_path: Path) -> None:
    docs = render("base", tmp_path)
    fields = {name.upper() for name in Settings.model_fields}
    config = by_kind(docs, "ConfigMap", next(
        d["metadata"]["name"] for d in docs if d["metadata"]["name"].startswith("aula-config")
    ))["data"]  # fmt: skip
    secret = next(d for d in docs if d["metadata"]["name"].startswith("aula-secrets"))["data"]
    assert set(config) <= fields and set(secret) <= fields
    assert {"ENCRYPTION_KEY", "ADMIN_TOKEN", "MEDIA_LINK_SECRET"} <= set(secret)
    assert not set(config) & {"ENCRYPTION_KEY", "ADMIN_TOKEN", "MEDIA_LINK_SECRET"}
    for name in ("web", "worker", "beat", "flower"):
        sources = pod(docs, name)["containers"][0]["envFrom"]
        refs = {next(iter(s.values()))["name"].rsplit("-", 1)[0] for s in sources}
        assert refs == {"aula-config", "aula-secrets"}, name


def test_the_front_runs_deploy_nginx_as_it_is() -> None:
    for name in ("aula.conf", "accel-headers.inc", "ui-headers.inc", "direct-headers.inc"):
        assert (K8S / "base/nginx" / name).read_bytes() == (
            ROOT / "deploy/nginx" / name
        ).read_bytes()
    template = "media-link.inc.template"
    copied = (K8S / "base/nginx" / template).read_bytes()
    assert copied == (ROOT / "deploy/nginx/templates" / template).read_bytes()


def test_keda_scales_workers_on_the_celery_queues(tmp_path: Path) -> None:
    from core.jobs.taskdefs import QueueName

    scaled = by_kind(render("overlays/example", tmp_path), "ScaledObject", "worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker"
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"redis"}
    assert {t["metadata"]["listName"] for t in triggers} == {str(q) for q in QueueName}
    assert all(t["metadata"]["address"] == "redis:6379" for t in triggers)
