#!/usr/bin/env bash
# Renders every kustomize overlay and validates it offline: against the
# Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields are
# errors) and against the house rules in check_manifests.py. Needs `kubectl`
# (its built-in kustomize) and the project virtualenv (make k8s-validate).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
K8S_VERSION="${K8S_VERSION:-1.32.0}"
OUT="var/k8s"
mkdir -p "$OUT"

command -v kubectl >/dev/null || { echo "kubectl is required (it renders the kustomize overlays)" >&2; exit 1; }
for overlay in dev prod; do
  kubectl kustomize "deploy/overlays/$overlay" > "$OUT/$overlay.yaml"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$OUT/$overlay.yaml"
  "$VENV/bin/python" deploy/check_manifests.py "$overlay" "$OUT/$overlay.yaml"
done
echo "k8s-validate: dev and prod render and validate against Kubernetes $K8S_VERSION (rendered in $OUT/)"
