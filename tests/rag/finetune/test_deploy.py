"""`rag finetune deploy`: the launch line for each server, from a real adapter on the packaged model
file (the GGUF it writes for llama.cpp and Ollama, the de-quantized base for vLLM), the server
read from RAG_LLM_URL when not given, and the refusal of a base that is not the adapter's."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.generate.local import LocalChatModel
from tests.servers import free_port

runner = CliRunner()


def deploy(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = runner.invoke(app, ["finetune", "deploy", *args], env=env)
    return result.exit_code, result.output


def flat(output: str) -> str:
    """An error as one line (the console wraps it at the terminal's width)."""
    return " ".join(output.split())


def launch_line(output: str) -> str:
    return next(line for line in output.splitlines() if "deploy/" in line and "=" in line)


def test_llama_cpp_gets_the_gguf_adapter_and_the_name_to_ask_for(
    adapter_dir: Path, smollm2: LocalChatModel, data_with_models: Path
) -> None:
    code, output = deploy(
        str(adapter_dir), "--server", "llamacpp", env={"RAG_DATA_DIR": str(data_with_models)}
    )
    assert code == 0, output
    gguf = adapter_dir / "northwind.gguf"
    assert f"wrote {gguf}" in output and gguf.read_bytes()[:4] == b"GGUF"
    line = launch_line(output)
    assert f"LLAMACPP_MODEL={smollm2.source.path}" in line and f"LLAMACPP_LORA={gguf}" in line
    assert output.rstrip().endswith("RAG_LLM_MODEL=northwind")
    # the printed line is the script's real command: --lora on the packaged base, per request
    shown = subprocess.run(
        ["bash", "-c", f"{line} --dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert shown.returncode == 0, shown.stderr
    assert shlex.join(["--model", str(smollm2.source.path)]) in shown.stdout
    assert shown.stdout.rstrip().endswith(f"--lora {shlex.quote(str(gguf))} --lora-init-without-apply")


def test_ollama_gets_a_modelfile_from_the_base_and_the_adapter(
    adapter_dir: Path, smollm2: LocalChatModel, data_with_models: Path
) -> None:
    code, output = deploy(
        str(adapter_dir),
        "--server",
        "ollama",
        "--name",
        "northwind-rag",
        env={"RAG_DATA_DIR": str(data_with_models)},
    )
    assert code == 0, output
    modelfile = (adapter_dir / "Modelfile").read_text()
    assert f"FROM {smollm2.source.path}\n" in modelfile
    assert f"ADAPTER {adapter_dir / 'northwind-rag.gguf'}\n" in modelfile
    assert "OLLAMA_RAG_MODEL=northwind-rag" in launch_line(output) and "create-model.sh" in launch_line(
        output
    )
    assert output.rstrip().endswith("RAG_LLM_MODEL=northwind-rag")


def test_vllm_gets_the_peft_folder_on_the_de_quantized_base(
    adapter_dir: Path, base_folder: Path, data_with_models: Path
) -> None:
    code, output = deploy(str(adapter_dir), "--server", "vllm", env={"RAG_DATA_DIR": str(data_with_models)})
    assert code == 0, output
    line = launch_line(output)
    assert f"VLLM_MODEL={data_with_models / 'models' / base_folder.name} " in line  # the de-quantized copy
    assert f"VLLM_LORA_MODULES=northwind={adapter_dir.resolve()}" in line and "VLLM_MAX_LORA_RANK=16" in line
    assert output.rstrip().endswith("RAG_LLM_MODEL=northwind")


def test_a_base_other_than_the_adapters_is_refused(adapter_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(64))
    code, output = deploy(
        str(adapter_dir), "--server", "llamacpp", "--base", str(other), env={"RAG_DATA_DIR": str(tmp_path)}
    )
    assert code == 2
    assert "the adapter northwind was trained on SmolLM2-135M-Instruct" in flat(output) and str(
        other
    ) in flat(output)
    assert "RAG_LLM_MODEL" not in output


def test_a_folder_that_is_no_adapter_is_named(tmp_path: Path) -> None:
    code, output = deploy(str(tmp_path), "--server", "vllm", env={"RAG_DATA_DIR": str(tmp_path)})
    assert code == 2 and f"{tmp_path} is not an adapter made by `rag finetune train`" in flat(output)


def test_the_server_is_read_from_rag_llm_url(
    adapter_dir: Path, smollm2_server: str, data_with_models: Path
) -> None:
    """The real llama.cpp server answers `owned_by: llamacpp`: the llama.cpp launch line it is."""
    code, output = deploy(
        str(adapter_dir), env={"RAG_DATA_DIR": str(data_with_models), "RAG_LLM_URL": smollm2_server}
    )
    assert code == 0, output
    assert "LLAMACPP_LORA=" in launch_line(output)


def test_an_unreachable_server_asks_for_server(adapter_dir: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, output = deploy(str(adapter_dir), env={"RAG_DATA_DIR": str(tmp_path), "RAG_LLM_URL": url})
    assert code == 2 and "pass --server" in flat(output)


@pytest.mark.parametrize("kind", ["sglang", "tgi"])
def test_a_server_without_a_deploy_script_is_refused(adapter_dir: Path, tmp_path: Path, kind: str) -> None:
    code, output = deploy(str(adapter_dir), "--server", kind, env={"RAG_DATA_DIR": str(tmp_path)})
    assert code == 2 and f"cannot serve adapters on '{kind}'" in flat(output)
