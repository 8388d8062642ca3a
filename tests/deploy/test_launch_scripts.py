"""The launch scripts of deploy/: valid bash, and `--dry-run` prints exactly the command each README
documents, with the env file's defaults; the environment overrides them; bad input fails clearly."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCRIPTS = [*sorted(DEPLOY.glob("*/*.sh")), DEPLOY / "common.sh"]
#: a README's documented command: `<!-- profile: NAME -->` then a fenced block
_DOCUMENTED = re.compile(r"<!-- profile: ([\w-]+) -->\s*```\n(.*?)```", re.DOTALL)
SERVERS = ["vllm", "ollama", "lmdeploy", "xinference", "llamacpp", "transformers"]


def dry_run(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script with `--dry-run` in a bare environment, so the developer's variables do not leak in."""
    return subprocess.run(
        ["bash", str(script), "--dry-run", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=30,
    )


def documented(server: str) -> list[tuple[str, str]]:
    text = (DEPLOY / server / "README.md").read_text()
    return [(name, block) for name, block in _DOCUMENTED.findall(text)]


def test_every_server_has_a_launch_script_an_env_file_and_a_readme() -> None:
    for server in SERVERS:
        folder = DEPLOY / server
        assert (folder / "launch.sh").is_file() and (folder / "README.md").is_file(), server
        assert list(folder.glob("*.env")), f"{server} has no env file"
        assert documented(server), f"{server}/README.md documents no command"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_are_valid_bash(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("server", "profile", "block"),
    [
        pytest.param(server, name, block, id=f"{server}-{name}")
        for server in SERVERS
        for name, block in documented(server)
    ],
)
def test_dry_run_prints_the_documented_command(server: str, profile: str, block: str) -> None:
    folder = DEPLOY / server
    if (folder / f"{profile}.sh").is_file():  # a second script of the server, e.g. launch-model.sh
        result = dry_run(folder / f"{profile}.sh")
    elif profile == "default":
        result = dry_run(folder / "launch.sh")
    else:
        result = dry_run(folder / "launch.sh", "--profile", profile)
    assert result.returncode == 0, result.stderr
    assert result.stdout == block


def test_small_gpu_profile_carries_the_seeds_flags() -> None:
    command = dry_run(DEPLOY / "vllm" / "launch.sh").stdout
    for flag in (
        "--gpu-memory-utilization 0.7",
        "--max-num-seqs 1",
        "--max-num-batched-tokens 4096",
        "--max-model-len 2048",
        "--swap-space 16",
        "--served-model-name qwen3-1.7b",
        "--host 0.0.0.0",
        "--port 8000",
    ):
        assert f" {flag}" in command


def test_the_environment_overrides_the_env_file_and_flags_pass_through() -> None:
    env = {
        "VLLM_PORT": "9123",
        "VLLM_SERVED_MODEL_NAME": "mine",
        "VLLM_LORA_MODULES": "sql=/a/sql law=/a/law",
    }
    command = dry_run(
        DEPLOY / "vllm" / "launch.sh", "--profile", "throughput", "--", "--seed", "7", env=env
    ).stdout
    assert "--port 9123" in command and "--served-model-name mine" in command
    assert "--enable-lora --max-lora-rank 16 --lora-modules sql=/a/sql law=/a/law" in command
    assert command.rstrip().endswith("--seed 7")


def test_a_value_with_spaces_is_quoted_in_the_printed_command(tmp_path: Path) -> None:
    env_file = tmp_path / "my.env"
    env_file.write_text(
        (DEPLOY / "llamacpp" / "llamacpp.env").read_text() + "\nLLAMACPP_MODEL=/my models/q.gguf\n"
    )
    result = dry_run(DEPLOY / "llamacpp" / "launch.sh", "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr
    assert "--model /my\\ models/q.gguf" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "huge"], "unknown profile huge"),
        (["--env-file", "/nonexistent/vllm.env"], "no env file at /nonexistent/vllm.env"),
        (["--bogus"], "unknown option --bogus"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(args: list[str], message: str) -> None:
    result = dry_run(DEPLOY / "vllm" / "launch.sh", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_missing_model_setting_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / "empty.env"
    env_file.write_text("VLLM_PORT=8000\n")
    result = dry_run(DEPLOY / "vllm" / "launch.sh", "--env-file", str(env_file))
    assert result.returncode != 0 and "VLLM_MODEL" in result.stderr


def test_the_ollama_modelfile_raises_the_context_window() -> None:
    modelfile = (DEPLOY / "ollama" / "Modelfile").read_text()
    num_ctx = int(re.search(r"^PARAMETER num_ctx (\d+)$", modelfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert num_ctx >= 4096  # above the default prompt budget (rag models check: 3712 tokens)


@pytest.mark.parametrize(
    ("script", "env", "flags"),
    [
        pytest.param(
            "llamacpp/launch.sh",
            {"LLAMACPP_LORA": "/a/law.gguf,/a/sql.gguf"},
            "--jinja --lora /a/law.gguf --lora /a/sql.gguf --lora-init-without-apply",
            id="llamacpp-per-request",
        ),
        pytest.param(
            "llamacpp/launch.sh",
            {
                "LLAMACPP_LORA": "/a/law.gguf",
                "LLAMACPP_LORA_PER_REQUEST": "0",
                "LLAMACPP_PROFILE": "xllamacpp",
            },
            "--jinja --lora /a/law.gguf",
            id="llamacpp-always",
        ),
        pytest.param(
            "lmdeploy/launch.sh",
            {"LMDEPLOY_ADAPTERS": "law=/a/law sql=/a/sql"},
            "--backend pytorch --adapters law=/a/law sql=/a/sql",
            id="lmdeploy",
        ),
        pytest.param(
            "xinference/launch-model.sh",
            {"XINFERENCE_LORA_MODULES": "law=/a/law sql=/a/sql"},
            "--lora-modules law /a/law --lora-modules sql /a/sql",
            id="xinference",
        ),
        pytest.param(
            "ollama/create-model.sh",
            {"OLLAMA_MODELFILE": "/a/law/Modelfile", "OLLAMA_RAG_MODEL": "law"},
            "ollama create law -f /a/law/Modelfile",
            id="ollama",
        ),
    ],
)
def test_adapters_are_passed_with_each_servers_own_flags(
    script: str, env: dict[str, str], flags: str
) -> None:
    """The LoRA options `rag finetune deploy` sets, spelled as each server's docs and sources have them."""
    result = dry_run(DEPLOY / script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(flags)


def test_the_python_llama_cpp_profile_refuses_adapters() -> None:
    result = dry_run(
        DEPLOY / "llamacpp" / "launch.sh", "--profile", "python", env={"LLAMACPP_LORA": "/a/x.gguf"}
    )
    assert result.returncode == 2 and "LLAMACPP_LORA needs the native or xllamacpp profile" in result.stderr
