"""docker-compose.yml, .env.example and the Dockerfile agree with each other and with the settings:
every store and model server the API's settings point at is a service with a healthcheck, every
variable is documented, and compose itself accepts the file where a compose binary is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rag.config import Settings

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"^[A-Z_][A-Z0-9_]*=", line))
    return dict(pairs)


def substitute(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}` / `${VAR:-default}` substitution over a loaded YAML tree."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [substitute(item, env) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, env) for key, item in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return substitute(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), env_example())


def _host(url: str) -> str:
    return re.match(r"^[\w+]+://(?:[^@/]*@)?([^:/]+)", url).group(1)  # type: ignore[union-attr]


def test_every_variable_compose_uses_is_documented_and_every_documented_one_is_used() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(text)}
    documented = set(env_example())
    assert used - documented == set(), "used in docker-compose.yml but not in .env.example"
    assert documented - used == set(), "documented in .env.example but not used"


def test_the_api_settings_parse_and_point_at_healthy_services(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    api = services["api"]
    for key, value in api["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()
    assert settings.sql_url.startswith("postgresql+psycopg://") and settings.admin_key.get_secret_value()
    stores = {_host(settings.sql_url), _host(settings.vector_url), _host(settings.graph_url)}
    for host in stores | {_host(settings.llm_url)}:
        assert host in services, f"the settings point at {host!r}, which is no service"
        assert services[host].get("healthcheck", {}).get("test"), f"{host} has no healthcheck"
    for store in stores:  # the API starts once its stores are healthy
        assert api["depends_on"][store] == {"condition": "service_healthy"}
    assert api["healthcheck"]["test"] and "/healthz" in " ".join(api["healthcheck"]["test"])


def test_model_servers_sit_behind_profiles_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("vllm", "ollama", "llamacpp"):
        assert services[name]["profiles"] == [name]
        assert services[name]["healthcheck"]["test"]
    vllm = services["vllm"]
    flags = " ".join(vllm["command"])
    for flag in (
        "--max-model-len=2048",
        "--max-num-seqs=1",
        "--gpu-memory-utilization=0.7",
        "--swap-space=16",
    ):
        assert flag in flags  # deploy/vllm's small-gpu profile
    assert f"--served-model-name={env_example()['RAG_LLM_MODEL']}" in flags  # the name the API asks for
    device = vllm["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def test_stores_keep_their_data_in_named_volumes(compose: dict[str, Any]) -> None:
    for name, path in (
        ("postgres", "/var/lib/postgresql/data"),
        ("neo4j", "/data"),
        ("qdrant", "/qdrant/storage"),
    ):
        volume = next(v for v in compose["services"][name]["volumes"] if v.endswith(f":{path}"))
        assert volume.split(":")[0] in compose["volumes"]


def test_the_dockerfile_builds_a_cpu_non_root_image_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)  # type: ignore[union-attr]
    assert f'"torch=={pinned}" --index-url https://download.pytorch.org/whl/cpu' in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1] != "root"
    assert re.search(r"^HEALTHCHECK .*\n?.*healthz", dockerfile, re.MULTILINE)


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_accepts_the_file_with_every_profile() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip(
            "no compose binary: install Docker Compose (or `apt-get install docker-compose`) to validate"
        )
    result = subprocess.run(
        [
            *command,
            "--env-file",
            ".env.example",
            "-f",
            "docker-compose.yml",
            "--profile",
            "vllm",
            "--profile",
            "ollama",
            "--profile",
            "llamacpp",
            "config",
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_worker_runs_the_jobs_the_apis_uploads_queue(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker, api = services["worker"], services["api"]
    assert worker["command"] == ["rag", "worker"] and worker["image"] == api["image"]
    assert worker["environment"] == api["environment"]
    assert api["environment"]["RAG_INGEST_QUEUE"] == "true"
    assert worker["environment"]["RAG_SQL_URL"].startswith("postgresql+psycopg://")  # the queue's home
    assert worker["depends_on"] == api["depends_on"]
