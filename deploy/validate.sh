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
# all-components: the base with every optional component of deploy/components/.
# Its ServiceMonitor has no schema here (a CRD): kubernetes-validate warns about it,
# check_manifests.py checks it.
for rendering in overlays/dev overlays/prod checks/all-components; do
  name="${rendering#*/}"
  kubectl kustomize "deploy/$rendering" > "$OUT/$name.yaml"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$OUT/$name.yaml"
  "$VENV/bin/python" deploy/check_manifests.py "$name" "$OUT/$name.yaml"
done
echo "k8s-validate: dev, prod and all-components render and validate against Kubernetes $K8S_VERSION (rendered in $OUT/)"
