"""Tool calls of the in-process model server: the `<tool_call>` blocks tool-trained models write,
read back as OpenAI's `tool_calls`, and OpenAI messages shaped as chat templates take them."""

from __future__ import annotations

import json

import pytest

from api.tool_calls import offered_names, parse_tool_calls, template_message

pytestmark = pytest.mark.fast

OFFERED = {"search_knowledge_base", "query_knowledge_base"}


def test_a_block_becomes_a_call_with_json_text_arguments_and_leaves_the_text() -> None:
    call = {"name": "search_knowledge_base", "arguments": {"question": "Who founded Acme?"}}
    reply = f"Let me look.\n<tool_call>\n{json.dumps(call)}\n</tool_call>"
    text, calls = parse_tool_calls(reply, OFFERED)
    assert text == "Let me look."
    assert [(call.name, json.loads(call.arguments)) for call in calls] == [
        ("search_knowledge_base", {"question": "Who founded Acme?"})
    ]
    assert calls[0].openai(0) == {
        "index": 0,
        "id": calls[0].id,
        "type": "function",
        "function": {"name": "search_knowledge_base", "arguments": calls[0].arguments},
    }
    assert calls[0].id.startswith("call_")


def test_several_blocks_are_several_calls_with_distinct_ids() -> None:
    block = '<tool_call>{{"name": "{}", "arguments": {{}}}}</tool_call>'
    reply = block.format("search_knowledge_base") + "\n" + block.format("query_knowledge_base")
    text, calls = parse_tool_calls(reply, OFFERED)
    assert text == "" and [call.name for call in calls] == sorted(OFFERED, reverse=True)
    assert len({call.id for call in calls}) == 2


def test_an_unclosed_block_at_the_end_is_still_a_call() -> None:
    _, calls = parse_tool_calls('<tool_call>\n{"name": "query_knowledge_base", "arguments": {}}', OFFERED)
    assert [call.name for call in calls] == ["query_knowledge_base"]


def test_calls_whose_tags_the_tokenizer_dropped_are_still_calls() -> None:
    one = '{"name": "search_knowledge_base", "arguments": {"query": "founders"}}'
    for reply, names in (
        (one, ["search_knowledge_base"]),
        (json.dumps(json.loads(one), indent=2), ["search_knowledge_base"]),
        (one + "\n" + one.replace("search", "query"), ["search_knowledge_base", "query_knowledge_base"]),
        (one + "\n" + one + "\n" + '{"name": "query_kn', ["search_knowledge_base"]),  # repeated, then cut off
    ):
        text, calls = parse_tool_calls(reply, OFFERED)
        assert text == "" and [call.name for call in calls] == names


def test_unknown_tools_and_broken_json_stay_text() -> None:
    for reply in (
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "search_knowledge_base", "arguments": </tool_call>',
        "No tool needed: Acme was founded in 2014.",
        '{"name": "rm_rf", "arguments": {}}',
        '{"name": "search_knowledge_base", "arguments": {}}\nand some words',
        '{"answer": 2014}',
        '{"name": ["search_knowledge_base"], "arguments": {}}',
        '{"name": "search_knowledge_base", "arguments": "not json"}',
        '{"name": "search_knowledge_base", "arguments": [1, 2]}',
    ):
        text, calls = parse_tool_calls(reply, OFFERED)
        assert calls == [] and text == reply.strip()


def test_assistant_calls_reach_the_template_with_object_arguments() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"q": "x"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
        ],
    }
    shaped = template_message(message)
    assert "content" not in shaped
    assert [call["function"]["arguments"] for call in shaped["tool_calls"]] == [{"q": "x"}, "not json"]
    assert message["tool_calls"][0]["function"]["arguments"] == '{"q": "x"}'  # the request is left as sent


def test_offered_names_are_the_function_tools_of_the_request() -> None:
    tools = [
        {"type": "function", "function": {"name": "search_knowledge_base", "parameters": {}}},
        {"type": "function", "function": {"description": "no name"}},
        "not a tool",
    ]
    assert offered_names(tools) == {"search_knowledge_base"}  # type: ignore[arg-type]
    assert offered_names(None) == set()


def test_arguments_always_reach_the_client_as_a_json_object() -> None:
    for arguments, expected in (
        ('"{\\"q\\": \\"x\\"}"', {"q": "x"}),
        ("null", {}),
        ('{"q": "x"}', {"q": "x"}),
    ):
        reply = f'{{"name": "search_knowledge_base", "arguments": {arguments}}}'
        _, calls = parse_tool_calls(reply, OFFERED)
        assert [json.loads(call.arguments) for call in calls] == [expected], reply
