"""Regenerate ``kuberay_v1.5.2.schema.json`` from KubeRay's CRDs (run by hand when the target release moves).

    python tests/cluster/make_kuberay_schema.py CRD_DIR > tests/cluster/kuberay_v1.5.2.schema.json

``CRD_DIR`` holds ``ray.io_rayclusters.yaml`` and ``ray.io_rayjobs.yaml`` from
``ray-operator/config/crd/bases/`` of ray-project/kuberay at tag v1.5.2. The CRDs
describe the whole Pod spec (hundreds of fields); the schema keeps, at every level
the shipped manifests use, the names of all allowed fields with their types, the
required fields and the enums, and forbids unknown fields there, as
``kubectl apply --validate=strict`` does. Levels the manifests do not enter keep
only their type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "cluster" / "configs"
KUBERAY_VERSION = "v1.5.2"

#: enums that KubeRay's Go types enforce but its CRD does not spell out (ray-operator/apis/ray/v1/rayjob_types.go)
GO_ENUMS = {("RayJob", "submissionMode"): ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]}

#: the subset of Kubernetes ObjectMeta a manifest's top-level metadata may carry
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _merge(values: list[Any]) -> Any:
    """One instance that uses every field any of ``values`` uses (list items share one item schema)."""
    dicts = [v for v in values if isinstance(v, dict)]
    if dicts:
        keys = {k for d in dicts for k in d}
        return {k: _merge([d[k] for d in dicts if k in d]) for k in keys}
    lists = [v for v in values if isinstance(v, list)]
    if lists:
        return [x for lst in lists for x in lst]
    return values[0] if values else None


def _shallow(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("x-kubernetes-int-or-string"):
        return {"type": ["integer", "string"]}
    out: dict[str, Any] = {"type": node["type"]} if "type" in node else {}
    if "enum" in node:
        out["enum"] = node["enum"]
    return out


def prune(node: dict[str, Any], used: Any) -> dict[str, Any]:
    """``node`` (an openAPIV3 schema) cut down to the levels ``used`` (a manifest fragment) enters."""
    out = _shallow(node)
    for key in ("minimum", "maximum"):
        if key in node:
            out[key] = node[key]
    if node.get("type") == "object" and "properties" in node and isinstance(used, dict):
        out["properties"] = {
            k: prune(sub, used[k]) if k in used else _shallow(sub) for k, sub in node["properties"].items()
        }
        if node.get("required"):
            out["required"] = node["required"]
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        values = list(used.values()) if isinstance(used, dict) else []
        out["additionalProperties"] = prune(node["additionalProperties"], _merge(values))
    elif node.get("type") == "array" and "items" in node:
        out["items"] = prune(node["items"], _merge(used if isinstance(used, list) else []))
    return out


def crd_schema(crd: dict[str, Any], manifests: list[dict[str, Any]]) -> dict[str, Any]:
    kind = crd["spec"]["names"]["kind"]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    spec = prune(
        version["schema"]["openAPIV3Schema"]["properties"]["spec"], _merge([m["spec"] for m in manifests])
    )
    for (k, field), enum in GO_ENUMS.items():
        if k == kind:
            spec["properties"][field]["enum"] = enum
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": f"{crd['spec']['group']}/v1"},
            "kind": {"const": kind},
            "metadata": OBJECT_META,
            "spec": spec,
        },
    }


def main(crd_dir: Path) -> dict[str, Any]:
    manifests = [yaml.safe_load(p.read_text()) for p in sorted(CONFIGS.glob("kuberay*.yaml"))]
    schemas = {}
    for name in ("ray.io_rayclusters.yaml", "ray.io_rayjobs.yaml"):
        crd = yaml.safe_load((crd_dir / name).read_text())
        kind = crd["spec"]["names"]["kind"]
        schemas[kind] = crd_schema(crd, [m for m in manifests if m["kind"] == kind])
    return {
        "$comment": (
            f"KubeRay {KUBERAY_VERSION} RayCluster and RayJob CRDs (ray-project/kuberay, "
            "ray-operator/config/crd/bases/), cut to the levels cluster/configs/kuberay*.yaml use; "
            "unknown fields are rejected there. Regenerate with tests/cluster/make_kuberay_schema.py."
        ),
        "kuberay_version": KUBERAY_VERSION,
        "kinds": schemas,
    }


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
