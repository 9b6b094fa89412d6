#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/k8s:
# - every manifest against the Kubernetes JSON schemas bundled in kubernetes-validate, strict
#   (unknown fields are errors), and YAML without duplicate keys;
# - cross-references the schemas cannot see: named probe/Service ports exist, every Service
#   selects a Deployment's pods, no manifest names a namespace;
# - the ConfigMap's runtime.toml parses (tomllib) and equals deploy/runtime.toml;
# - kustomization.yaml lists every manifest but secret.example.yaml;
# - with a runtime binary as second argument: that binary accepts deploy/runtime.toml as the
#   pods get it (unknown keys, ports, the auth check of host 0.0.0.0), via `runtime rules`,
#   which reads no database.
#
# Requirement (pip, in the virtualenv given as argument):
#   'kubernetes-validate>=1.30,<2'
#
# Usage: deploy/validate.sh VENV_BIN_DIR_OR_PYTHON [RUNTIME_BINARY]
#   e.g. deploy/validate.sh target/ci-venv/bin target/release/runtime
# K8S_VERSION (default 1.30.0) picks the Kubernetes version to validate against.
# Prints one line per file; exits non-zero when any check fails.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 VENV_BIN_DIR_OR_PYTHON [RUNTIME_BINARY]" >&2
  exit 2
fi
python=$1
[ -d "$python" ] && python=$python/python
if [ ! -x "$python" ]; then
  echo "$0: $python is not an executable Python" >&2
  exit 2
fi
deploy=$(cd "$(dirname "$0")" && pwd)
status=0

"$python" - "$deploy" "${K8S_VERSION:-1.30.0}" <<'PY' || status=1
import pathlib
import sys
import tomllib

import kubernetes_validate
import yaml

deploy = pathlib.Path(sys.argv[1])
version = sys.argv[2]
k8s = deploy / "k8s"
EXAMPLE = "secret.example.yaml"
KUSTOMIZATION = "kustomization.yaml"


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a key given twice (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load(path):
    return [doc for doc in yaml.load_all(path.read_text(), Loader=UniqueKeyLoader) if doc is not None]


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    return None


def cross_checks(doc, name):
    """Errors the schemas cannot see, for one resource."""
    errors = []
    if "namespace" in doc.get("metadata", {}):
        errors.append(f"{name}: names a namespace; the manifests are namespace-agnostic")
    spec = pod_spec(doc)
    if spec:
        for container in spec.get("containers", []):
            ports = {p.get("name") for p in container.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    errors.append(f"{name}: {probe} uses port {port!r}, not a named port")
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"].get("matchLabels", {})
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            if any(labels.get(k) != v for k, v in selector.items()):
                errors.append(f"{name}: the selector does not match the pod labels")
    return errors


failed = False
resources = []  # (file, doc)
files = sorted(k8s.glob("*.yaml")) + sorted(k8s.glob("*.yml"))
manifests = [f for f in files if f.name != KUSTOMIZATION]
for path in manifests:
    rel = path.relative_to(deploy.parent)
    problems = []
    try:
        docs = load(path)
    except yaml.YAMLError as e:
        docs, problems = [], [" ".join(f"YAML: {e}".split())]
    if not docs and not problems:
        problems.append("no resource")
    kinds = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        kinds.append(name)
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            problems.append(f"{name}: {where}: {e.message}")
        except Exception as e:  # unknown kind/apiVersion, unsupported version, ...
            problems.append(f"{name}: {type(e).__name__}: {e}")
        if doc.get("kind") == "ConfigMap" and "runtime.toml" in doc.get("data", {}):
            text = doc["data"]["runtime.toml"]
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                problems.append(f"{name}: runtime.toml does not parse: {e}")
            if text != (deploy / "runtime.toml").read_text():
                problems.append(f"{name}: runtime.toml differs from deploy/runtime.toml")
        resources.append((path.name, doc))
    if problems:
        failed = True
        print(f"FAIL {rel}")
        for p in problems:
            print(f"     {p}")
    else:
        print(f"ok   {rel} ({', '.join(kinds)}; Kubernetes {version}, strict)")

# Cross-references between resources.
workloads = [doc for _, doc in resources if pod_spec(doc) is not None]
problems = []
for file, doc in resources:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    problems += [f"{file}: {e}" for e in cross_checks(doc, name)]
    if doc.get("kind") == "Service":
        selector = doc["spec"].get("selector", {})
        matches = [
            w for w in workloads
            if w["kind"] == "Deployment"
            and all(w["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                    for k, v in selector.items())
        ]
        if len(matches) != 1:
            problems.append(f"{file}: {name} selects {len(matches)} Deployments, not 1")
        for port in doc["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and not all(
                any(p.get("name") == target for c in w["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", []))
                for w in matches
            ):
                problems.append(f"{file}: {name} targets port {target!r}, not named by its pods")
if problems:
    failed = True
    print("FAIL cross-references")
    for p in problems:
        print(f"     {p}")
else:
    print("ok   cross-references (probe and Service ports, selectors, no namespace)")

# The kustomization lists every manifest but the example Secret, and nothing else.
path = k8s / KUSTOMIZATION
rel = path.relative_to(deploy.parent)
try:
    kustomization = load(path)[0]
    listed = kustomization.get("resources", [])
    expected = sorted(f.name for f in manifests if f.name != EXAMPLE)
    problems = []
    if kustomization.get("kind") != "Kustomization":
        problems.append("kind is not Kustomization")
    if missing := sorted(set(expected) - set(listed)):
        problems.append(f"does not list {', '.join(missing)}")
    if extra := sorted(set(listed) - set(expected)):
        problems.append(f"lists {', '.join(extra)}, not a manifest here (or the example Secret)")
    if len(listed) != len(set(listed)):
        problems.append("lists a file twice")
except (yaml.YAMLError, IndexError, AttributeError) as e:
    problems = [" ".join(f"YAML: {e}".split())]
if problems:
    failed = True
    print(f"FAIL {rel}")
    for p in problems:
        print(f"     {p}")
else:
    print(f"ok   {rel} (lists every manifest but {EXAMPLE})")

sys.exit(1 if failed else 0)
PY

if [ $# -eq 2 ]; then
  runtime=$(realpath "$2")
  # The environment of the pods (placeholder secrets), and nothing else of this shell's.
  if out=$(cd "$deploy" && env -i PATH="$PATH" RUNTIME_ADMIN__HOST=0.0.0.0 \
      RUNTIME_DATABASE__URL=postgres://validate@127.0.0.1:5432/validate \
      RUNTIME_AUTH__JWT_SECRET=validate-placeholder-secret-of-32-bytes-or-more \
      "$runtime" --config runtime.toml rules 2>&1 >/dev/null); then
    echo "ok   deploy/runtime.toml (accepted by $2)"
  else
    echo "FAIL deploy/runtime.toml (refused by $2)"
    echo "     $out"
    status=1
  fi
fi
exit $status
