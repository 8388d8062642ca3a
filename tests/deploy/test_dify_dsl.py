"""deploy/dify/chatflow.yml as Dify's importer reads it, and the chatflow's own call driven against the
real app: its code node builds the request, its HTTP Request node's fields become the request (as
Dify's executor renders them), the app answers it, and its second code node turns the answer into
the prompt's sources and the answer's citations.

What is checked was read in langgenius/dify:
- `api/services/app_dsl_service.py` (0013bcd9e072d442fc21ee90ff57340ec08298a4), `import_app` and
  `_create_or_update_app`: `kind: app`, a string `version`, `app.mode`, `workflow.graph`,
  `dependencies` validated as `PluginDependency`, environment variables built by
  `variable_factory.build_environment_variable_from_mapping` (a name, a value type, a value);
- `api/constants/dsl_version.py` (0d1635274f785872add37e50ac22ce2d74f1ecac): `CURRENT_APP_DSL_VERSION`,
  and `api/services/dsl_version.py` (c714a8e317b386cf2f79be23efd8f3bc01593fd8), which asks for a
  confirmation for a newer or older-major file and warns for an older minor one;
- `api/services/plugin/dependencies_analysis.py` (0d9becd060448533197e63054d9a3b9d6427e17c): a model
  provider `org/plugin/provider` depends on the plugin `org/plugin`, and the version regex;
- `VARIABLE_PATTERN` of Dify's `VariablePool` (how `{{#node.var#}}` is found and replaced), and the
  HTTP Request executor (`_init_url`, `_init_headers`, `_init_body`, `_assembling_headers`,
  `_apply_content_type_header`) and its node outputs (`status_code`, `body`, `headers`, `files`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from packaging.version import Version

from tests.api import conftest as api_fixtures
from tests.api.conftest import DEMO

# The served sample corpus and the app with keys, shared with tests/api (a fixture named here is
# one pytest finds for this module).
served_data = api_fixtures.served_data
keyed_data = api_fixtures.keyed_data
keyed = api_fixtures.keyed

CHATFLOW = Path(__file__).resolve().parents[2] / "deploy" / "dify" / "chatflow.yml"
Keyed = tuple[TestClient, str, str]
Node = dict[str, Any]

#: `CURRENT_APP_DSL_VERSION` in the Dify source read
DSL_VERSION = "0.6.0"
#: Dify's built-in node types (`BuiltinNodeTypes`)
NODE_TYPES = {
    "start", "end", "answer", "llm", "knowledge-retrieval", "if-else", "code", "template-transform",
    "question-classifier", "http-request", "tool", "datasource", "variable-aggregator",
    "variable-assigner", "loop", "loop-start", "loop-end", "iteration", "iteration-start",
    "parameter-extractor", "assigner", "document-extractor", "list-operator", "agent",
    "knowledge-index", "human-input",
}  # fmt: skip
#: the variables of an advanced-chat run under `sys.`
SYSTEM_VARIABLES = {
    "query", "files", "conversation_id", "user_id", "dialogue_count", "app_id", "workflow_id",
    "workflow_run_id", "timestamp",
}  # fmt: skip
#: what each node type outputs, where the outputs are not declared in the node itself
FIXED_OUTPUTS = {
    "http-request": {"status_code", "body", "headers", "files"},
    "llm": {"text", "reasoning_content", "usage", "structured_output"},
    "knowledge-retrieval": {"result"},
    "template-transform": {"output"},
}
#: Dify's `VariablePool.VARIABLE_PATTERN`
VARIABLE = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")
#: a marketplace plugin identifier as Dify exports it: `org/name:version@sha256`
MARKETPLACE_ID = re.compile(
    r"^([a-z0-9_-]+/[a-z0-9_-]+):(\d+\.\d+\.\d+(?:[+-][0-9A-Za-z.-]+)?)@[a-f0-9]{64}$"
)
#: `BODY_TYPE_TO_CONTENT_TYPE` of the HTTP Request executor
BODY_CONTENT_TYPES = {
    "json": "application/json",
    "x-www-form-urlencoded": "application/x-www-form-urlencoded",
    "form-data": "multipart/form-data",
    "raw-text": "text/plain",
}
#: a question with quotes and a line break: a template pasted into JSON would break on it
QUESTION = 'When was "Northwind Robotics" founded?\nAnswer briefly.'
#: the local model's reply in the walk below (no model server runs in these tests)
MODEL_REPLY = "Northwind Robotics was founded in 2014 [1]."


@pytest.fixture(scope="module")
def dsl() -> dict[str, Any]:
    """The file loaded the way `import_app` loads it."""
    data = yaml.safe_load(CHATFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def nodes(dsl: dict[str, Any]) -> dict[str, Node]:
    return {node["id"]: node for node in dsl["workflow"]["graph"]["nodes"]}


def edges(dsl: dict[str, Any]) -> list[dict[str, Any]]:
    return dsl["workflow"]["graph"]["edges"]


def ancestors(dsl: dict[str, Any], node_id: str) -> set[str]:
    """The nodes that run before `node_id`: only their outputs exist when it runs."""
    parents: dict[str, set[str]] = {}
    for edge in edges(dsl):
        parents.setdefault(edge["target"], set()).add(edge["source"])
    found: set[str] = set()
    todo = list(parents.get(node_id, ()))
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(parents.get(current, ()))
    return found


def in_order(dsl: dict[str, Any]) -> Iterator[Node]:
    """The nodes from Start along the edges, each after all its parents (a topological order)."""
    by_id = nodes(dsl)
    pending = {node_id: len(ancestors(dsl, node_id)) for node_id in by_id}
    for node_id in sorted(pending, key=pending.__getitem__):
        yield by_id[node_id]


def outputs_of(node: Node) -> set[str]:
    data = node["data"]
    if data["type"] == "start":
        return {variable["variable"] for variable in data.get("variables", [])}
    if data["type"] == "code":
        return set(data["outputs"])
    return FIXED_OUTPUTS.get(data["type"], set())


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def references(node: Node) -> Iterator[list[str]]:
    """Every selector the node reads: `{{#a.b#}}` in any text, and code nodes' `value_selector`s."""
    for text in strings(node["data"]):
        for match in VARIABLE.finditer(text):
            yield match.group(1).split(".")
    for variable in node["data"].get("variables", []):
        if "value_selector" in variable:
            yield list(variable["value_selector"])


def render(template: str, pool: dict[tuple[str, str], Any]) -> str:
    """`VariablePool.convert_template`: each `{{#node.var#}}` replaced by that variable's text."""
    return VARIABLE.sub(lambda match: str(pool[tuple(match.group(1).split(".")[:2])]), template)


def run_code(node: Node, pool: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """A code node as Dify's sandbox runs it: `main(**inputs)`, then each declared output checked."""
    data = node["data"]
    inputs = {v["variable"]: pool[tuple(v["value_selector"])] for v in data["variables"]}
    namespace: dict[str, Any] = {}
    exec(compile(data["code"], f"chatflow.yml:{node['id']}", "exec"), namespace)
    result = namespace["main"](**inputs)
    assert set(result) == set(data["outputs"])
    for name, output in data["outputs"].items():
        assert isinstance(result[name], {"string": str, "number": int | float}[output["type"]])
    return result


def http_request(node: Node, pool: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """The request Dify's HTTP Request executor makes from the node: URL, headers (`Key:Value` lines,
    then the authorization, then the body type's Content-Type unless one is set) and body."""
    data = node["data"]
    url = render(data["url"], pool)
    assert url.startswith(("http://", "https://"))
    headers = {
        key.strip(): (value[0].strip() if value else "")
        for line in render(data["headers"], pool).splitlines()
        if line.strip()
        for key, *value in [line.split(":", 1)]
    }
    auth = data["authorization"]
    if auth["type"] == "api-key":
        config = auth["config"]
        api_key = render(config["api_key"], pool)
        assert api_key.strip(), "Dify refuses an api-key authorization whose key renders empty"
        assert config["type"] == "bearer"
        headers[config.get("header") or "Authorization"] = f"Bearer {api_key}"
    body = data["body"]
    if "content-type" not in {key.lower() for key in headers}:
        headers["Content-Type"] = BODY_CONTENT_TYPES[body["type"]]
    assert body["type"] == "raw-text" and len(body["data"]) == 1
    content = render(body["data"][0]["value"], pool)
    return {"method": data["method"].upper(), "url": url, "headers": headers, "content": content}


def walk(
    dsl: dict[str, Any], client: TestClient, env: dict[str, Any], query: str
) -> dict[tuple[str, str], Any]:
    """One run of the chatflow: the code nodes run, the HTTP node's request goes to the app, the
    prompt and the answer are rendered; the model's reply is `MODEL_REPLY`."""
    pool: dict[tuple[str, str], Any] = {("sys", "query"): query}
    pool |= {("env", name): value for name, value in env.items()}
    for node in in_order(dsl):
        node_id, kind = node["id"], node["data"]["type"]
        if kind == "code":
            pool |= {(node_id, name): value for name, value in run_code(node, pool).items()}
        elif kind == "http-request":
            request = http_request(node, pool)
            assert request["url"].startswith("http://testserver/")
            response = client.request(
                request["method"],
                request["url"],
                content=request["content"].encode("utf-8"),
                headers=request["headers"],
            )
            pool[(node_id, "status_code")] = response.status_code
            pool[(node_id, "body")] = response.text
        elif kind == "llm":
            prompts = [render(message["text"], pool) for message in node["data"]["prompt_template"]]
            pool[(node_id, "prompt")] = "\n".join(prompts)
            pool[(node_id, "text")] = MODEL_REPLY
        elif kind == "answer":
            pool[(node_id, "answer")] = render(node["data"]["answer"], pool)
    return pool


def environment(dsl: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values = {item["name"]: item["value"] for item in dsl["workflow"]["environment_variables"]}
    return values | overrides


def test_version_kind_and_mode_are_what_the_importer_expects(dsl: dict[str, Any]) -> None:
    """A non-string version is an import error; the current version imports without a question."""
    assert isinstance(dsl["version"], str) and Version(dsl["version"]) == Version(DSL_VERSION)
    assert dsl["kind"] == "app"
    app = dsl["app"]
    assert app["mode"] == "advanced-chat" and app["name"].strip()
    assert app["icon_type"] in {"emoji", "image", "link"}
    assert isinstance(dsl["workflow"]["graph"]["nodes"], list) and dsl["workflow"]["features"]


def test_the_graph_is_one_chain_from_start_to_answer(dsl: dict[str, Any]) -> None:
    by_id = nodes(dsl)
    ids = [node["id"] for node in dsl["workflow"]["graph"]["nodes"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-zA-Z0-9_]{1,50}", i) for i in ids)
    assert all(node["type"] == "custom" and node["data"]["type"] in NODE_TYPES for node in by_id.values())
    kinds = [node["data"]["type"] for node in by_id.values()]
    assert kinds.count("start") == 1 and "answer" in kinds and "end" not in kinds  # a chatflow
    edge_ids = [edge["id"] for edge in edges(dsl)]
    assert len(edge_ids) == len(set(edge_ids))
    for edge in edges(dsl):
        assert edge["source"] in by_id and edge["target"] in by_id
        assert edge["data"]["sourceType"] == by_id[edge["source"]]["data"]["type"]
        assert edge["data"]["targetType"] == by_id[edge["target"]]["data"]["type"]
    start = next(i for i, node in by_id.items() if node["data"]["type"] == "start")
    answer = next(i for i, node in by_id.items() if node["data"]["type"] == "answer")
    assert ancestors(dsl, answer) == set(by_id) - {answer}  # every node leads to the answer
    assert start not in {edge["target"] for edge in edges(dsl)}
    assert all(node_id not in ancestors(dsl, node_id) for node_id in by_id)  # no cycle


def test_every_variable_reference_points_at_an_earlier_output(dsl: dict[str, Any]) -> None:
    by_id = nodes(dsl)
    declared = {"env": {v["name"] for v in dsl["workflow"]["environment_variables"]}}
    declared["conversation"] = {v["name"] for v in dsl["workflow"]["conversation_variables"]}
    declared["sys"] = SYSTEM_VARIABLES
    seen = 0
    for node_id, node in by_id.items():
        for selector in references(node):
            seen += 1
            owner, name = selector[0], selector[1]
            if owner in declared:
                assert name in declared[owner], f"{node_id} reads undeclared {owner}.{name}"
            else:
                assert owner in ancestors(dsl, node_id), f"{node_id} reads {owner}, which runs later"
                assert name in outputs_of(by_id[owner]), f"{node_id} reads {owner}.{name}: no such output"
    assert seen >= 10


def test_environment_variables_import_and_ship_no_secret(dsl: dict[str, Any]) -> None:
    """`build_environment_variable_from_mapping`: a name, a value type and a non-null value each."""
    variables = dsl["workflow"]["environment_variables"]
    assert {v["name"] for v in variables} == {"RAG_URL", "RAG_API_KEY", "RAG_KB", "RAG_TOP_K"}
    assert len({v["id"] for v in variables}) == len(variables)
    for variable in variables:
        assert variable["selector"] == ["env", variable["name"]] and variable["value"] is not None
        kind = variable["value_type"]
        assert kind in {"string", "number", "secret"}
        assert isinstance(variable["value"], int | float if kind == "number" else str)
        if kind == "secret":
            assert variable["value"] == ""  # exported blank, as Dify exports secrets


def test_the_model_provider_is_the_declared_plugin_dependency(dsl: dict[str, Any]) -> None:
    """The LLM uses the OpenAI-API-compatible provider; the dependency names its plugin, so Dify's
    dependency check can offer to install it."""
    dependencies = dsl["dependencies"]
    assert all(d["type"] in {"github", "marketplace", "package"} for d in dependencies)
    plugins = set()
    for dependency in dependencies:
        if dependency["type"] == "marketplace":
            found = MARKETPLACE_ID.fullmatch(dependency["value"]["marketplace_plugin_unique_identifier"])
            assert found
            plugins.add(found.group(1))
    llms = [node["data"] for node in nodes(dsl).values() if node["data"]["type"] == "llm"]
    assert llms
    for llm in llms:
        model = llm["model"]
        assert model["provider"] == "langgenius/openai_api_compatible/openai_api_compatible"
        assert model["provider"].rsplit("/", 1)[0] in plugins  # ModelProviderID(...).plugin_id
        assert model["mode"] == "chat" and model["name"].strip()
        assert llm["context"]["enabled"] is False or llm["context"]["variable_selector"]


def test_code_nodes_are_python_whose_main_takes_the_declared_variables(dsl: dict[str, Any]) -> None:
    for node in nodes(dsl).values():
        data = node["data"]
        if data["type"] != "code":
            continue
        assert data["code_language"] == "python3"
        namespace: dict[str, Any] = {}
        exec(compile(data["code"], node["id"], "exec"), namespace)
        parameters = list(inspect.signature(namespace["main"]).parameters)
        assert parameters == [variable["variable"] for variable in data["variables"]]
        assert all(output["type"] in {"string", "number"} for output in data["outputs"].values())


def test_the_chatflow_asks_the_real_app_and_answers_with_its_sources(
    dsl: dict[str, Any], keyed: Keyed
) -> None:
    client, demo_key, _ = keyed
    env = environment(dsl, RAG_URL="http://testserver", RAG_API_KEY=demo_key, RAG_KB=DEMO, RAG_TOP_K=3)
    pool = walk(dsl, client, env, QUESTION)
    assert pool[("retrieve", "status_code")] == 200
    context, citations = pool[("format_sources", "context")], pool[("format_sources", "citations")]
    assert context.startswith("[1] handbook.md\n") and "founded in 2014" in context
    assert context.count("\n\n[") == 2  # RAG_TOP_K sources
    assert citations.startswith("Sources:\n[1] handbook.md")
    assert context in pool[("llm", "prompt")]
    assert pool[("answer", "answer")] == f"{MODEL_REPLY}\n\n{citations}"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"RAG_API_KEY": "rag-not-a-key"}, "HTTP 403: invalid API key"),
        ({"RAG_KB": "nope"}, "HTTP 404: knowledge base 'nope' does not exist"),
    ],
)
def test_a_refusal_stops_the_run_with_the_services_reason(
    dsl: dict[str, Any], keyed: Keyed, overrides: dict[str, str], reason: str
) -> None:
    client, demo_key, _ = keyed
    env = environment(dsl, RAG_URL="http://testserver", RAG_API_KEY=demo_key, RAG_KB=DEMO) | overrides
    with pytest.raises(ValueError, match=re.escape(f"rag-local answered {reason}")):
        walk(dsl, client, env, QUESTION)
