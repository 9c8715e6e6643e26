"""House rules the Kubernetes schemas cannot express, checked on rendered overlays.

Usage: check_manifests.py OVERLAY RENDERED.yaml

Every workload runs non-root on a read-only root filesystem with no privilege
escalation and all capabilities dropped, has resource requests and a memory
limit, and (except the dev sandbox) liveness and readiness probes. Every
crmerp service probes /healthz and /readyz. In prod, NATS runs three members
with fsync on every write and every service declares R3 streams.
"""

import sys

import yaml

SERVICES = {"ingress", "deal-to-order", "monitoring"}


def fail(errors, workload, message):
    errors.append(f"{workload}: {message}")


def check_container(errors, name, pod, container):
    sc = container.get("securityContext", {})
    pod_sc = pod.get("securityContext", {})
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        fail(errors, name, "must run as non-root")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(errors, name, "needs readOnlyRootFilesystem: true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(errors, name, "needs allowPrivilegeEscalation: false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        fail(errors, name, "must drop ALL capabilities")
    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= set(resources.get("requests", {})):
        fail(errors, name, "needs cpu and memory requests")
    if "memory" not in resources.get("limits", {}):
        fail(errors, name, "needs a memory limit")
    if name in SERVICES:
        paths = {
            probe: container.get(probe, {}).get("httpGet", {}).get("path")
            for probe in ("livenessProbe", "readinessProbe")
        }
        if paths != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
            fail(errors, name, f"probes must be /healthz and /readyz, got {paths}")
    elif name != "sandbox" and not container.get("livenessProbe"):
        fail(errors, name, "needs a liveness probe")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def main():
    overlay, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    errors = []
    kinds = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name = doc["metadata"]["name"]
        pod = doc["spec"]["template"]["spec"]
        if pod.get("automountServiceAccountToken") is not False:
            fail(errors, name, "must not mount a service account token")
        for container in pod["containers"]:
            check_container(errors, name, pod, container)
        if overlay == "prod" and name in SERVICES:
            replicas = env_of(pod["containers"][0]).get("CRMERP__NATS__REPLICAS")
            if replicas != "3":
                fail(errors, name, "prod streams need CRMERP__NATS__REPLICAS=3")
        if overlay == "prod" and name == "nats" and doc["spec"].get("replicas") != 3:
            fail(errors, name, "prod NATS needs three members")
    for service in SERVICES:
        for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"):
            if service not in kinds.get(kind, set()):
                fail(errors, service, f"has no {kind}")
    if overlay == "prod" and "deal-to-order" not in kinds.get("HorizontalPodAutoscaler", set()):
        fail(errors, "deal-to-order", "has no HorizontalPodAutoscaler")
    if "default-deny" not in kinds.get("NetworkPolicy", set()):
        fail(errors, "namespace", "has no default-deny NetworkPolicy")
    for doc in docs:
        if doc["kind"] == "ConfigMap" and "nats.conf" in doc.get("data", {}):
            if "sync_interval: always" not in doc["data"]["nats.conf"]:
                fail(errors, "nats", "nats.conf needs sync_interval: always")
    for error in errors:
        print(f"ERROR {overlay}: {error}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"{overlay}: {len(docs)} resources follow the house rules")


if __name__ == "__main__":
    main()
