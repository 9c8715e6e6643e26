"""House rules the Kubernetes schemas cannot express, checked on rendered overlays.

Usage: check_manifests.py                      render every overlay (kubectl kustomize) and check it
       check_manifests.py OVERLAY RENDERED.yaml check one rendering (validate.sh)

Every workload runs non-root on a read-only root filesystem with no privilege
escalation and all capabilities dropped, has resource requests and a memory
limit, and (except the dev sandbox) liveness and readiness probes. Every
crmerp service probes /healthz and /readyz and is annotated for Prometheus.
In prod, NATS runs three members with fsync on every write and every service
declares R3 streams. Secret settings come from Secrets, never literals; the
alert channels come from their optional Secrets into settings monitoring
reads. The NetworkPolicies admit the documented traffic (evaluated here, not
just named). The dev overlay (the base as shipped) needs no CRD and opens no
port an optional component opens; with every component (deploy/components/)
the rendering admits what they promise and the ServiceMonitor scrapes every
service.
"""

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"ingress", "deal-to-order", "fulfilment-sync", "monitoring"}

# Rendering name -> kustomization; all-components is the base plus every optional component.
RENDERINGS = {
    "dev": "deploy/overlays/dev",
    "prod": "deploy/overlays/prod",
    "all-components": "deploy/checks/all-components",
}

# Alert channels: environment variable -> (Secret, key); each optional.
ALERT_CHANNEL_ENV = {
    "CRMERP__MONITORING__ALERTS__SLACK__WEBHOOK_URL": ("crmerp-alert-slack", "webhook-url"),
    "CRMERP__MONITORING__ALERTS__PAGERDUTY__ROUTING_KEY": ("crmerp-alert-pagerduty", "routing-key"),
    "CRMERP__MONITORING__ALERTS__EMAIL__SMTP_HOST": ("crmerp-alert-email", "smtp-host"),
    "CRMERP__MONITORING__ALERTS__EMAIL__SMTP_PORT": ("crmerp-alert-email", "smtp-port"),
    "CRMERP__MONITORING__ALERTS__EMAIL__SECURITY": ("crmerp-alert-email", "security"),
    "CRMERP__MONITORING__ALERTS__EMAIL__USERNAME": ("crmerp-alert-email", "username"),
    "CRMERP__MONITORING__ALERTS__EMAIL__PASSWORD": ("crmerp-alert-email", "password"),
    "CRMERP__MONITORING__ALERTS__EMAIL__FROM": ("crmerp-alert-email", "from"),
    "CRMERP__MONITORING__ALERTS__EMAIL__TO": ("crmerp-alert-email", "to"),
}

# Settings whose values are credentials: never a literal in a manifest.
SECRET_SUFFIXES = ("SECRET", "TOKEN", "TOKENS", "TOKEN_ID", "PASSWORD", "_KEY", "WEBHOOK_URL", "DATABASE_URL")

# Where each service's settings types live, for the env-name check.
SETTINGS_SOURCES = {
    "monitoring": ("services/monitoring/src", "crates/service-kit/src"),
}

# API groups every cluster has: the overlays must apply without extra CRDs.
CORE_API_VERSIONS = {"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}

# Stand-ins for endpoints outside the rendering.
PUBLIC_HOST = "203.0.113.10"  # Slack, PagerDuty, a vendor API, a public SMTP relay
PRIVATE_ERP = "10.20.30.40"  # an on-premises ERP or Tryton
API_SERVER = "10.0.0.1"  # the Kubernetes API server's endpoint
CNPG_CLUSTER = "crmerp-postgres"


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
    for env in container.get("env", []):
        if env["name"].startswith("CRMERP__") and env["name"].endswith(SECRET_SUFFIXES) and "value" in env:
            fail(errors, name, f"{env['name']} is a credential: take it from a Secret, not a literal")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_scrape_annotations(errors, name, template, container):
    """The pod annotations point at the admin port the probes use (where /metrics is)."""
    annotations = template["metadata"].get("annotations", {})
    probe_port = container.get("livenessProbe", {}).get("httpGet", {}).get("port")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    expected = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(ports.get(probe_port)),
        "prometheus.io/path": "/metrics",
    }
    got = {key: annotations.get(key) for key in expected}
    if got != expected:
        fail(errors, name, f"Prometheus annotations must be {expected}, got {got}")


def check_alert_channels(errors, container):
    """Every alert channel setting comes from its optional Secret."""
    env = {e["name"]: e for e in container.get("env", [])}
    for name, (secret, key) in ALERT_CHANNEL_ENV.items():
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        if ref != {"name": secret, "key": key, "optional": True}:
            message = f"{name} must come from Secret {secret} key {key} (optional), got {ref}"
            fail(errors, "monitoring", message)


def rust_structs(sources):
    """Field name -> type name of every `pub struct` under `sources`, and which have a flattened field."""
    structs, flattened = {}, set()
    for source in sources:
        for path in sorted((ROOT / source).rglob("*.rs")):
            text = path.read_text(encoding="utf-8")
            for match in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
                name, body = match.group(1), match.group(2)
                fields = {}
                for field in re.finditer(r"(#\[serde\(flatten\)\]\s*)?pub (\w+): ([^,\n]+),", body):
                    if field.group(1):
                        flattened.add(name)
                    # Option<SlackSettings> -> SlackSettings; Vec<TokenSetting> -> TokenSetting.
                    inner = re.findall(r"\w+", field.group(3))
                    fields[field.group(2)] = inner[-1] if inner else ""
                structs.setdefault(name, fields)
    return structs, flattened


def check_settings_names(errors, service, container):
    """Each CRMERP__ variable of a service names a key its settings types read."""
    if service not in SETTINGS_SOURCES:
        return
    structs, flattened = rust_structs(SETTINGS_SOURCES[service])
    for env in container.get("env", []):
        if not env["name"].startswith("CRMERP__"):
            continue
        current = "Settings"
        for segment in env["name"][len("CRMERP__"):].lower().split("__"):
            fields = structs.get(current)
            if fields is None or current in flattened:
                break  # a type from another crate or a free-form section: not checked further
            if segment not in fields:
                fail(errors, service, f"{env['name']}: {current} has no field {segment}")
                break
            current = fields[segment]


class Endpoint:
    """A pod (namespace and labels) or an address outside the cluster."""

    def __init__(self, namespace=None, labels=None, ip=None):
        self.namespace, self.labels, self.ip = namespace, labels, ip


def selects(selector, labels):
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr.get("values", []):
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def peer_matches(peer, policy_namespace, endpoint):
    if "ipBlock" in peer:
        if endpoint.ip is None:
            return False
        ip = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if endpoint.labels is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), endpoint.labels)


def port_matches(ports, port):
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == "TCP" and p.get("port") is not None
        and p["port"] <= port <= p.get("endPort", p["port"])
        for p in ports
    )


def side_allows(policies, pod, peer, port, direction):
    """Whether the policies selecting `pod` let `peer` through in `direction` (Ingress/Egress)."""
    applicable = []
    for policy in policies:
        spec = policy["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if (
            direction in types
            and policy["metadata"].get("namespace") == pod.namespace
            and selects(spec.get("podSelector", {}), pod.labels)
        ):
            applicable.append(policy)
    if not applicable:
        return True  # not isolated (or a namespace this rendering has no policies for)
    peers_key = "from" if direction == "Ingress" else "to"
    for policy in applicable:
        for rule in policy["spec"].get(direction.lower(), []) or []:
            peers = rule.get(peers_key) or []
            namespace = policy["metadata"].get("namespace")
            if (not peers or any(peer_matches(p, namespace, peer) for p in peers)) and port_matches(
                rule.get("ports"), port
            ):
                return True
    return False


def allowed(policies, source, destination, port):
    egress = source.labels is None or side_allows(policies, source, destination, port, "Egress")
    ingress = destination.labels is None or side_allows(policies, destination, source, port, "Ingress")
    return egress and ingress


def check_network(errors, overlay, docs, pods, namespace):
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    public, private_erp = Endpoint(ip=PUBLIC_HOST), Endpoint(ip=PRIVATE_ERP)
    prometheus = Endpoint("monitoring", {"app.kubernetes.io/name": "prometheus"})
    cnpg = Endpoint(namespace, {"cnpg.io/cluster": CNPG_CLUSTER, "cnpg.io/podRole": "instance"})
    operator = Endpoint("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})
    components = overlay == "all-components"

    def expect(what, source, destination, port, admitted):
        if allowed(policies, source, destination, port) != admitted:
            verb = "must" if admitted else "must not"
            fail(errors, "network", f"{what} {verb} be admitted on TCP {port}")

    monitoring, flow, ingress = pods["monitoring"], pods["deal-to-order"], pods["ingress"]
    expect("monitoring -> Slack/PagerDuty (public HTTPS)", monitoring, public, 443, True)
    expect("deal-to-order -> vendor APIs (public HTTPS)", flow, public, 443, True)
    expect("fulfilment-sync -> vendor APIs (public HTTPS)", pods["fulfilment-sync"], public, 443, True)
    for name, port in (("ingress", 8080), ("deal-to-order", 8090), ("fulfilment-sync", 8092), ("monitoring", 8081)):
        expect(f"Prometheus -> {name} /metrics", prometheus, pods[name], port, True)
    expect("ingress -> on-premises ERP / Tryton", ingress, private_erp, 8000, False)
    if overlay == "prod":
        return  # a prod overlay may enable components: only the base's promises hold
    # Extra egress ports are an overlay concern: closed unless a component opens them.
    for port in (587, 465):
        expect("monitoring -> SMTP relay", monitoring, public, port, components)
    expect("deal-to-order -> on-premises ERP / Tryton", flow, private_erp, 8000, components)
    # CloudNativePG in the namespace needs its component.
    expect("monitoring -> CloudNativePG", monitoring, cnpg, 5432, components)
    expect("CloudNativePG operator -> instance status", operator, cnpg, 8000, components)
    expect("CloudNativePG operator -> instance Postgres", operator, cnpg, 5432, components)
    expect("CloudNativePG instance -> instance (replication)", cnpg, cnpg, 5432, components)
    expect("CloudNativePG instance -> instance (status)", cnpg, cnpg, 8000, components)
    api_server = Endpoint(ip=API_SERVER)
    expect("CloudNativePG instance manager -> Kubernetes API", cnpg, api_server, 6443, components)
    expect("Prometheus -> CloudNativePG exporter", prometheus, cnpg, 9187, components)
    expect("deal-to-order -> CloudNativePG", flow, cnpg, 5432, False)


def check_service_monitor(errors, docs):
    """The ServiceMonitor scrapes /metrics of every service through a port its Service has."""
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    if len(monitors) != 1 or monitors[0]["apiVersion"] != "monitoring.coreos.com/v1":
        found = [d["apiVersion"] for d in monitors]
        fail(errors, "servicemonitor", f"expected one monitoring.coreos.com/v1 ServiceMonitor, got {found}")
        return
    spec = monitors[0]["spec"]
    endpoints = {e["port"]: e.get("path") for e in spec.get("endpoints", [])}
    if set(endpoints.values()) != {"/metrics"}:
        fail(errors, "servicemonitor", f"every endpoint must scrape /metrics, got {endpoints}")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for name in SERVICES:
        service = services.get(name)
        if service is None or not selects(spec["selector"], service["metadata"].get("labels", {})):
            fail(errors, "servicemonitor", f"does not select Service {name}")
            continue
        ports = {p.get("name") for p in service["spec"]["ports"]}
        if not ports & set(endpoints):
            fail(errors, "servicemonitor", f"Service {name} has none of the ports {sorted(endpoints)}")


def check(overlay, docs):
    errors = []
    kinds = {}
    pods = {}
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] == "Deployment"}
    namespace = namespaces.pop() if len(namespaces) == 1 else None
    prod = overlay == "prod"
    for doc in docs:
        kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
        if overlay == "dev" and doc["apiVersion"] not in CORE_API_VERSIONS:
            what = f"{doc['apiVersion']} {doc['kind']}"
            fail(errors, doc["metadata"]["name"], f"{what} needs a CRD: ship it as a component")
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name = doc["metadata"]["name"]
        template = doc["spec"]["template"]
        pod = template["spec"]
        pods[name] = Endpoint(doc["metadata"].get("namespace"), template["metadata"].get("labels", {}))
        if pod.get("automountServiceAccountToken") is not False:
            fail(errors, name, "must not mount a service account token")
        for container in pod["containers"]:
            check_container(errors, name, pod, container)
        if name in SERVICES:
            check_scrape_annotations(errors, name, template, pod["containers"][0])
            check_settings_names(errors, name, pod["containers"][0])
        if name == "monitoring":
            check_alert_channels(errors, pod["containers"][0])
        if prod and name in SERVICES:
            replicas = env_of(pod["containers"][0]).get("CRMERP__NATS__REPLICAS")
            if replicas != "3":
                fail(errors, name, "prod streams need CRMERP__NATS__REPLICAS=3")
        if prod and name == "nats" and doc["spec"].get("replicas") != 3:
            fail(errors, name, "prod NATS needs three members")
    for service in SERVICES:
        for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"):
            if service not in kinds.get(kind, set()):
                fail(errors, service, f"has no {kind}")
    for flow_service in ("deal-to-order", "fulfilment-sync"):
        if prod and flow_service not in kinds.get("HorizontalPodAutoscaler", set()):
            fail(errors, flow_service, "has no HorizontalPodAutoscaler")
    if "default-deny" not in kinds.get("NetworkPolicy", set()):
        fail(errors, "namespace", "has no default-deny NetworkPolicy")
    for doc in docs:
        if doc["kind"] == "ConfigMap" and "nats.conf" in doc.get("data", {}):
            if "sync_interval: always" not in doc["data"]["nats.conf"]:
                fail(errors, "nats", "nats.conf needs sync_interval: always")
    if SERVICES <= set(pods):
        check_network(errors, overlay, docs, pods, namespace)
    if overlay == "all-components":
        check_service_monitor(errors, docs)
    return errors


def load(text):
    return [d for d in yaml.safe_load_all(text) if d]


def render(path):
    result = subprocess.run(["kubectl", "kustomize", str(ROOT / path)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return result.stdout


def main():
    if len(sys.argv) == 3:
        overlay, path = sys.argv[1], sys.argv[2]
        with open(path, encoding="utf-8") as f:
            renderings = {overlay: load(f)}
    elif len(sys.argv) == 1:
        renderings = {name: load(render(path)) for name, path in RENDERINGS.items()}
    else:
        sys.exit(__doc__)
    failed = False
    for overlay, docs in renderings.items():
        if overlay not in RENDERINGS:
            sys.exit(f"unknown rendering {overlay}: one of {', '.join(RENDERINGS)}")
        errors = check(overlay, docs)
        for error in errors:
            print(f"ERROR {overlay}: {error}", file=sys.stderr)
        failed = failed or bool(errors)
        if not errors:
            print(f"{overlay}: {len(docs)} resources follow the house rules")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
