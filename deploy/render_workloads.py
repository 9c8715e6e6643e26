#!/usr/bin/env python3
"""Renders a kustomize overlay and prints, as JSON, what each crmerp
Deployment's container would get: its configuration files in CRMERP_CONFIG
order (the mounted ConfigMaps' contents), its environment (literal values and
Secret references) and the Secrets the overlay itself renders.

The end-to-end overlay test (crates/e2e-tests/tests/deploy_overlays.rs) starts
the real binaries with exactly this, so a setting the code no longer reads, a
Secret variable a Deployment forgets or a ConfigMap mounted at the wrong path
fails there, not in a cluster.

Usage: render_workloads.py <kustomization dir, e.g. deploy/overlays/dev>
"""

import base64
import json
import subprocess
import sys

import yaml

SERVICES = ("ingress", "deal-to-order", "fulfilment-sync", "monitoring")


def render(path):
    out = subprocess.run(
        ["kubectl", "kustomize", path], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def secrets(docs):
    found = {}
    for name, secret in by_kind(docs, "Secret").items():
        values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        values.update(secret.get("stringData") or {})
        found[name] = values
    return found


def config_files(container, volumes, config_maps, env):
    """The CRMERP_CONFIG files' contents, read from the ConfigMap volumes."""
    paths = [p.strip() for p in env.get("CRMERP_CONFIG", "").split(",") if p.strip()]
    files = []
    for path in paths:
        mount = next(
            (m for m in container.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")),
            None,
        )
        if mount is None:
            raise SystemExit(f"{container['name']}: no volume is mounted at {path}")
        volume = volumes.get(mount["name"], {})
        source = volume.get("configMap")
        if source is None:
            raise SystemExit(f"{container['name']}: {path} is not on a ConfigMap volume")
        key = path[len(mount["mountPath"].rstrip("/")) + 1 :]
        data = config_maps.get(source["name"], {}).get("data", {})
        if key not in data:
            raise SystemExit(f"{container['name']}: ConfigMap {source['name']} has no key {key}")
        files.append({"path": path, "content": data[key]})
    return files


def workloads(docs):
    config_maps = by_kind(docs, "ConfigMap")
    result = {}
    for name, deployment in by_kind(docs, "Deployment").items():
        if name not in SERVICES:
            continue
        spec = deployment["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == name)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        env = []
        literals = {}
        for entry in container.get("env", []):
            if "value" in entry:
                env.append({"name": entry["name"], "value": str(entry["value"])})
                literals[entry["name"]] = str(entry["value"])
            elif "secretKeyRef" in (entry.get("valueFrom") or {}):
                ref = entry["valueFrom"]["secretKeyRef"]
                env.append(
                    {
                        "name": entry["name"],
                        "secret": ref["name"],
                        "key": ref["key"],
                        "optional": bool(ref.get("optional", False)),
                    }
                )
            else:
                raise SystemExit(f"{name}: env {entry['name']} has a source this test does not know")
        result[name] = {
            "config": config_files(container, volumes, config_maps, literals),
            "env": env,
            # Mounted Secret files (e.g. the Postgres CA) by mount path.
            "secret_mounts": {
                m["mountPath"]: volumes[m["name"]]["secret"]["secretName"]
                for m in container.get("volumeMounts", [])
                if "secret" in volumes.get(m["name"], {})
            },
        }
    missing = [s for s in SERVICES if s not in result]
    if missing:
        raise SystemExit(f"the overlay renders no Deployment for {missing}")
    return result


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    docs = render(sys.argv[1])
    json.dump({"workloads": workloads(docs), "secrets": secrets(docs)}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
