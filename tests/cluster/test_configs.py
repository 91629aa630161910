"""The shipped cluster configs pass the schemas of the tools that run them and would run a sweep.

Ray launcher YAMLs: Ray's own ``prepare_config`` + ``validate_config`` (its ray-schema.json).
KubeRay manifests: tests/cluster/kuberay_v1.5.2.schema.json, the RayCluster and RayJob CRDs of KubeRay
v1.5.2 cut to the levels the manifests use, unknown fields rejected (as ``kubectl --validate=strict``).
Beyond the schemas, each config is checked for what made the old ones fail: a published, pinned image,
no working tree synced, Ray's own start command with a reachable dashboard, autoscaling bounds,
storage in a bucket, and every placeholder a user must edit named in the header.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml

from medzoo.cluster.commands import CONFIG_DIR, dashboard_command, resolve_config, up_command
from medzoo.errors import ConfigError

VERSION = version("medzoo")
WHEEL = f"medzoo-{VERSION}-py3-none-any.whl"
IMAGE = re.compile(r"^rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py311(?P<gpu>-gpu)?$")
KUBERAY_SCHEMA = json.loads((Path(__file__).parent / "kuberay_v1.5.2.schema.json").read_text())
LAUNCHERS = {"aws-gpu": "s3://", "gcp-gpu": "gs://"}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load(resolve_config(name).path.read_text())


def _header(name: str) -> str:
    """The comment block at the top of a config: where every value a user must edit is named."""
    lines = resolve_config(name).path.read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("#"))


def _body(name: str) -> str:
    lines = resolve_config(name).path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in CONFIG_DIR.iterdir() if p.suffix in (".yaml", ".sbatch"))
)
def test_every_placeholder_is_named_in_the_header(name: str) -> None:
    header = _header(name)
    assert "EDIT BEFORE USE" in header
    for placeholder in set(re.findall(r"YOUR-[A-Z-]+", _body(name))):
        assert placeholder in header, f"{name}: {placeholder} is not named in the header"
    assert "ray-ml" not in resolve_config(name).path.read_text()  # discontinued images


def _prepare_and_validate(config: dict[str, Any]) -> dict[str, Any]:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_yaml_passes_rays_own_schema_and_rejects_breakage(name: str) -> None:
    config = _load(name)
    prepared = _prepare_and_validate(config)
    assert prepared["provider"]["type"] == name.split("-")[0]
    # the check can fail: Ray's schema rejects an unknown key and a mistyped bound
    for broken in ({**config, "file_mount": {}}, {**config, "max_workers": "eight"}):
        with pytest.raises(jsonschema.ValidationError):
            _prepare_and_validate(broken)


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_yaml_would_run_a_sweep(name: str) -> None:
    config = _load(name)
    # a pinned, published Ray image with Python 3.11, the Ray version medzoo is tested with
    images = [config["docker"]["image"], config["docker"]["head_image"]]
    images += [t["docker"]["worker_image"] for t in config["available_node_types"].values() if "docker" in t]
    for image in images:
        match = IMAGE.match(image)
        assert match and match["ray"] == ray.__version__, image
    # GPU and CPU worker types with autoscaling bounds inside the global bound
    types = config["available_node_types"]
    workers = {n: t for n, t in types.items() if n != config["head_node_type"]}
    assert any(t["resources"].get("GPU", 0) >= 1 for t in workers.values())
    assert any("GPU" not in t["resources"] for t in workers.values())
    for node_type in workers.values():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"] <= config["max_workers"]
    # medzoo from one built wheel at the pinned version; never a synced folder
    assert config["file_mounts"] == {f"/home/ray/{WHEEL}": f"dist/{WHEEL}"}
    assert config.get("rsync_filter", []) == [] and not config.get("cluster_synced_files")
    assert any("pip install" in c and f"/home/ray/{WHEEL}" in c for c in config["setup_commands"])
    # runs and data in the bucket named at the top, exported on every node before Ray starts
    storage = next(c for c in config["setup_commands"] if "MEDZOO_STORAGE=" in c)
    assert f"MEDZOO_STORAGE={LAUNCHERS[name]}YOUR-BUCKET/" in storage and "MEDZOO_STORAGE" in _header(name)
    # the dashboard (what `submit` talks to) listens beyond localhost; `dashboard` forwards it
    assert any("--dashboard-host=0.0.0.0" in c for c in config["head_start_ray_commands"])
    assert dashboard_command(resolve_config(name))[:2] == ["ray", "dashboard"]


def _validate_manifest(doc: dict[str, Any]) -> None:
    jsonschema.validate(doc, KUBERAY_SCHEMA["kinds"][doc["kind"]], cls=jsonschema.Draft7Validator)


def test_kuberay_schema_is_the_targeted_release() -> None:
    assert KUBERAY_SCHEMA["kuberay_version"] == "v1.5.2"
    for schema in KUBERAY_SCHEMA["kinds"].values():
        jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("name", ["kuberay", "kuberay-job"])
def test_kuberay_manifests_pass_the_crd_schema_and_strictness_is_real(name: str) -> None:
    doc = _load(name)
    _validate_manifest(doc)
    breakages = [("spec", "replica", 1), ("metadata", "labelz", {})]
    if doc["kind"] == "RayCluster":
        breakages += [
            ("spec.headGroupSpec.template.spec.containers.0", "imagePullPolicyy", "Always"),
            ("spec.workerGroupSpecs.0", "minReplicas", "0"),
            ("spec.autoscalerOptions", "upscalingMode", "Fast"),
        ]
    else:
        breakages += [("spec", "submissionMode", "K8sJob"), ("spec", "backoffLimit", "0")]
    for where, key, value in breakages:
        broken = copy.deepcopy(doc)
        node = broken
        for part in where.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node[key] = value
        with pytest.raises(jsonschema.ValidationError):
            _validate_manifest(broken)


def _containers(group: dict[str, Any]) -> list[dict[str, Any]]:
    return group["template"]["spec"]["containers"]


def test_raycluster_lets_kuberay_start_ray_with_a_reachable_dashboard_and_autoscaling() -> None:
    doc = _load("kuberay")
    spec = doc["spec"]
    head, groups = spec["headGroupSpec"], spec["workerGroupSpecs"]
    assert spec["enableInTreeAutoscaling"] is True and spec["rayVersion"] == ray.__version__
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    for group in [head, *groups]:
        assert "volumes" not in group["template"]["spec"]  # no PVC: storage is the bucket
        for container in _containers(group):
            # a custom command that runs `ray start` stops KubeRay from generating its own
            assert "ray start" not in " ".join(container.get("command", []) + container.get("args", []))
            match = IMAGE.match(container["image"])
            assert match and match["ray"] == ray.__version__, container["image"]
            assert not container.get("volumeMounts")
            env = {e["name"] for e in container.get("env", [])}
            assert {"MEDZOO_STORAGE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env
    assert "gpu" not in _containers(head)[0]["image"]
    assert {"name": "dashboard", "containerPort": 8265} in _containers(head)[0]["ports"]
    gpu = [g for g in groups if "nvidia.com/gpu" in _containers(g)[0]["resources"]["limits"]]
    assert gpu and all(g["minReplicas"] <= g["replicas"] <= g["maxReplicas"] for g in groups)
    assert IMAGE.match(_containers(gpu[0])[0]["image"])["gpu"]
    # `medzoo cluster dashboard kuberay` forwards the head service's dashboard port
    assert dashboard_command(resolve_config("kuberay")) == [
        "kubectl", "port-forward", f"svc/{doc['metadata']['name']}-head-svc", "8265:8265",
    ]  # fmt: skip


def test_rayjob_runs_a_campaign_against_object_storage_on_that_cluster() -> None:
    job, cluster = _load("kuberay-job"), _load("kuberay")
    spec = job["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] in (["medzoo", "campaign"], ["medzoo", "sweep"])
    assert re.match(r"^(s3|gs)://", argv[argv.index("--storage") + 1])
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert f"medzoo=={VERSION}" in runtime_env["pip"]
    assert "rayClusterSpec" not in spec and "volume" not in json.dumps(spec).lower()
    assert up_command(resolve_config("kuberay-job"))[:3] == ["kubectl", "apply", "-f"]
    assert dashboard_command(resolve_config("kuberay-job"))[2] == "svc/medzoo-head-svc"


def test_slurm_script_runs_the_driver_inside_the_allocation() -> None:
    path = resolve_config("slurm").path
    text = _body("slurm")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    # resources from SLURM's variables, never hard-coded
    assert "SLURM_GPUS_PER_NODE" in text and "SLURM_CPUS_PER_TASK" in text
    assert not re.search(r"--num-(gpus|cpus)=\d", text)
    # head on the first node, workers via srun on the others, then the command given to the script
    head = text.index("ray start --head")
    workers = text.index('ray start --address="$RAY_ADDRESS"')
    driver = text.index('\n"$@"')
    assert head < workers < driver and "--block &" in text
    assert 'srun --nodes=1 --ntasks=1 --overlap -w "$node"' in text
    assert "ray stop" not in text  # would stop other users' Ray on a shared node
    # the dashboard `submit` talks to listens beyond localhost; the driver joins through RAY_ADDRESS
    assert "--dashboard-host=0.0.0.0" in text and 'export RAY_ADDRESS="${head_ip}:${port}"' in text
    with pytest.raises(ConfigError, match="none was given"):
        up_command(resolve_config("slurm"))
    assert up_command(resolve_config("slurm"), command=["medzoo", "sweep", "p"], wait=True) == [
        "sbatch", "--wait", str(path), "--", "medzoo", "sweep", "p",
    ]  # fmt: skip
