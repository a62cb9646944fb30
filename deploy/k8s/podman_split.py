"""Splits `kubectl kustomize deploy/k8s/overlays/podman` into what podman 4.3 can play.

Usage: podman_split.py RENDERED OUTDIR. Writes into OUTDIR:
- secret-NAME.json: each Secret's data, for `podman secret create NAME` (podman 4.3 reads an
  envFrom secret as a JSON map of names to base64 values; the Secret documents its kube play
  stores are not that, and envFrom then fails);
- migrate.yaml: the ConfigMaps, the PersistentVolumeClaims (podman makes named volumes of them)
  and the migrate Job's pod template as a Pod (podman plays no Job), to run first;
- play.yaml: the ConfigMaps and the Deployments (podman ignores Services);
- ports.env: WEB_PORT, the host port of web's `http` port.
podman 4.3 publishes every containerPort on the host (on 0.0.0.0, host port = container port,
so Redis would take the host's 6379): each gets hostIP 127.0.0.1 and a free host port here.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def on_loopback(pod: dict[str, Any]) -> dict[str, int]:
    """Each containerPort of the pod spec on 127.0.0.1 at a free host port; the ports by name."""
    chosen = {}
    for container in pod["containers"]:
        for port in container.get("ports", []):
            port.update(hostIP="127.0.0.1", hostPort=free_port())
            chosen[f"{container['name']}/{port.get('name', port['containerPort'])}"] = port[
                "hostPort"
            ]
    return chosen


def as_pod(job: dict[str, Any]) -> dict[str, Any]:
    template = job["spec"]["template"]
    metadata = {**template.get("metadata", {}), "name": job["metadata"]["name"]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def main(rendered: Path, out: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all(rendered.read_text()) if doc]
    of = {kind: [d for d in docs if d["kind"] == kind] for kind in {d["kind"] for d in docs}}
    for secret in of.get("Secret", []):
        (out / f"secret-{secret['metadata']['name']}.json").write_text(json.dumps(secret["data"]))
    configs = of.get("ConfigMap", [])
    jobs = [as_pod(job) for job in of.get("Job", [])]
    volumes = of.get("PersistentVolumeClaim", [])
    (out / "migrate.yaml").write_text(yaml.safe_dump_all([*configs, *volumes, *jobs]))
    ports: dict[str, int] = {}
    for deployment in of["Deployment"]:
        ports.update(on_loopback(deployment["spec"]["template"]["spec"]))
    (out / "play.yaml").write_text(yaml.safe_dump_all([*configs, *of["Deployment"]]))
    (out / "ports.env").write_text(f"WEB_PORT={ports['web/http']}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
