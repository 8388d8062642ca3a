"""Conversations over HTTP: `/v1/query` and `/v1/retrieve` with a `history`, stored conversations
continued by `conversation_id` (whole and streamed), each key's conversations its own, and paging.

The follow-ups are answered by the packaged SmolLM2, which also writes their standalone rewrites;
on a shared CPU a rewrite can take longer than the default deadline, so these apps wait for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import ADMIN_KEY, DEMO, OTHER, served_settings
from tests.api.test_query import sse_events

FIRST = "Who is the CEO of Northwind Robotics?"
FOLLOW_UP = "And when was it founded?"
HISTORY = [
    {"role": "user", "content": FIRST},
    {"role": "assistant", "content": "Maria Keller is the CEO of Northwind Robotics [1]."},
]
#: seconds a follow-up's rewrite may take here (the setting's default is 10)
REWRITE_DEADLINE_S = 120.0


class Keys:
    """The app with an admin key and three keys: two reading `demo`, one reading only `other`."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        keys = client.app.state.services.keys
        self.a = bearer(keys.create([DEMO])[1])
        self.b = bearer(keys.create([DEMO])[1])
        self.other = bearer(keys.create([OTHER])[1])
        self.admin = bearer(ADMIN_KEY)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keys(served_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    data = tmp_path_factory.mktemp("conversations") / "data"
    shutil.copytree(served_data, data, symlinks=True)
    settings = served_settings(data, admin_key=ADMIN_KEY, rewrite_deadline_s=REWRITE_DEADLINE_S)
    with TestClient(create_app(settings)) as client:
        yield Keys(client)


def sources(body: dict[str, Any]) -> set[str]:
    return {Path(citation["source"]).name for citation in body["citations"]}


def test_a_follow_up_in_history_is_searched_for_as_a_standalone_question(keys: Keys) -> None:
    body = {"question": FOLLOW_UP, "kb": DEMO, "history": HISTORY}
    answered = keys.client.post("/v1/query", json=body, headers=keys.a)
    assert answered.status_code == 200, answered.text
    shown = answered.json()
    assert shown["question"] == FOLLOW_UP and "Northwind" in shown["retrieval_question"]
    assert sources(shown) == {"handbook.md"} and shown["abstained"] is None
    assert shown["conversation_id"] is None and isinstance(shown["unsupported"], list)

    retrieved = keys.client.post("/v1/retrieve", json=body, headers=keys.a).json()
    assert retrieved["retrieval_question"] == shown["retrieval_question"]
    assert Path(retrieved["hits"][0]["source"]).name == "handbook.md"
    alone = keys.client.post("/v1/retrieve", json={"question": FIRST, "kb": DEMO}, headers=keys.a)
    assert alone.json()["retrieval_question"] == FIRST


def test_history_and_conversation_id_together_are_refused_naming_both(keys: Keys) -> None:
    body = {"question": FOLLOW_UP, "kb": DEMO, "history": HISTORY, "conversation_id": "x"}
    refused = keys.client.post("/v1/query", json=body, headers=keys.a)
    message = refused.json()["error"]["message"]
    assert refused.status_code == 422 and "history" in message and "conversation_id" in message
    too_long = [{"role": "user", "content": "x" * 8001}]
    too_long_body = {"question": FOLLOW_UP, "kb": DEMO, "history": too_long}
    assert keys.client.post("/v1/query", json=too_long_body, headers=keys.a).status_code == 422
    many = {"question": "q", "kb": DEMO, "history": HISTORY * 26}
    refused = keys.client.post("/v1/retrieve", json=many, headers=keys.a)
    assert refused.status_code == 422 and "body.history" in refused.json()["error"]["message"]


def test_a_stored_conversation_is_continued_whole_and_streamed(keys: Keys) -> None:
    client = keys.client
    created = client.post("/v1/conversations", json={"kb": DEMO}, headers=keys.a)
    assert created.status_code == 201
    conversation = created.json()
    assert (conversation["kb"], conversation["title"], conversation["turn_count"]) == (DEMO, "", 0)
    cid = conversation["id"]

    first = client.post("/v1/query", json={"question": FIRST, "conversation_id": cid}, headers=keys.a)
    assert first.status_code == 200, first.text
    assert first.json()["conversation_id"] == cid and first.json()["kb"] == DEMO

    body = {"question": FOLLOW_UP, "conversation_id": cid, "stream": True}
    with client.stream("POST", "/v1/query", json=body, headers=keys.a) as response:
        assert response.status_code == 200
        *_, (last, answer) = sse_events(response.read().decode())
    assert last == "answer" and answer["conversation_id"] == cid
    assert "Northwind" in str(answer["retrieval_question"])

    stored = client.get(f"/v1/conversations/{cid}", headers=keys.a).json()
    assert (stored["title"], stored["turn_count"]) == (FIRST, 2)
    turns = stored["turns"]
    assert [turn["question"] for turn in turns] == [FIRST, FOLLOW_UP]
    assert turns[0]["answer"] == first.json()["answer"] and turns[1]["answer"] == answer["answer"]
    assert turns[1]["retrieval_question"] == answer["retrieval_question"]
    assert turns[1]["citations"] == answer["citations"]
    assert {Path(c["source"]).name for c in turns[1]["citations"]} == {"handbook.md"}

    wrong_kb = {"question": FIRST, "conversation_id": cid, "kb": OTHER}
    refused = client.post("/v1/query", json=wrong_kb, headers=keys.admin)
    assert refused.status_code == 422 and DEMO in refused.json()["error"]["message"]


def test_a_key_sees_only_its_own_conversations_and_the_admin_every_one(keys: Keys) -> None:
    client = keys.client
    mine = client.post("/v1/conversations", json={"kb": DEMO}, headers=keys.a).json()["id"]
    admins = client.post("/v1/conversations", json={"kb": DEMO}, headers=keys.admin).json()
    assert admins["key_id"] is None

    ask = {"question": "What warranty do the robots carry?", "conversation_id": mine}
    for headers in (keys.b, keys.other):
        for response in (
            client.get(f"/v1/conversations/{mine}", headers=headers),
            client.delete(f"/v1/conversations/{mine}", headers=headers),
            client.post("/v1/query", json=ask, headers=headers),
        ):
            # the same answer as for an id that does not exist
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "conversation_not_found"
    assert client.get("/v1/conversations/no-such-id", headers=keys.a).status_code == 404
    assert client.get(f"/v1/conversations/{admins['id']}", headers=keys.a).status_code == 404
    refused = client.post("/v1/conversations", json={"kb": DEMO}, headers=keys.other)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "kb_not_found"
    assert client.get("/v1/conversations", params={"kb": DEMO}, headers=keys.other).status_code == 404

    listed_by_a = {c["id"] for c in client.get("/v1/conversations", headers=keys.a).json()["conversations"]}
    listed_by_b = {c["id"] for c in client.get("/v1/conversations", headers=keys.b).json()["conversations"]}
    listed = client.get("/v1/conversations", params={"limit": 100}, headers=keys.admin).json()
    assert mine in listed_by_a and admins["id"] not in listed_by_a and mine not in listed_by_b
    assert {mine, admins["id"]} <= {c["id"] for c in listed["conversations"]}

    assert client.get(f"/v1/conversations/{mine}", headers=keys.admin).status_code == 200
    assert client.delete(f"/v1/conversations/{mine}", headers=keys.admin).json() == {"deleted": mine}
    assert client.get(f"/v1/conversations/{mine}", headers=keys.a).status_code == 404


def test_conversations_are_paged_newest_first(keys: Keys) -> None:
    client = keys.client
    made = [
        client.post("/v1/conversations", json={"kb": DEMO}, headers=keys.b).json()["id"] for _ in range(3)
    ]
    pages = [
        client.get("/v1/conversations", params={"limit": 2, "offset": offset}, headers=keys.b).json()
        for offset in (0, 2)
    ]
    assert [page["total"] for page in pages] == [3, 3]
    assert [c["id"] for page in pages for c in page["conversations"]] == made[::-1]
    assert pages[1]["offset"] == 2 and pages[1]["limit"] == 2
    in_kb = client.get("/v1/conversations", params={"kb": DEMO}, headers=keys.b).json()
    assert in_kb["total"] == 3
    assert client.get("/v1/conversations", params={"limit": 0}, headers=keys.b).status_code == 422


def test_deleting_a_kb_deletes_its_conversations(keys: Keys) -> None:
    client = keys.client
    assert client.post("/v1/knowledge-bases", json={"name": "brief"}, headers=keys.admin).status_code == 201
    cid = client.post("/v1/conversations", json={"kb": "brief"}, headers=keys.admin).json()["id"]
    assert client.delete("/v1/knowledge-bases/brief", headers=keys.admin).status_code == 200
    assert client.get(f"/v1/conversations/{cid}", headers=keys.admin).status_code == 404
