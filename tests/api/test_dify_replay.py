"""Dify's calls to an External Knowledge API, replayed byte for byte against the real app, and the
answers read the way Dify's code reads them.

What is replayed was read in langgenius/dify:
- `api/services/external_knowledge_service.py` (68d5f22311030fd3949b210881a96f304ef91469 and a later
  version with the fix for issue #21070), `ExternalDatasetService.check_endpoint_and_api_key`,
  `fetch_external_knowledge_retrieval` and `process_external_api`;
- `api/repositories/knowledge/external_retrieval_repository.py`
  (69859f9d9dd6991353322e1839947f09b8d108d3), `prepare_external_retrieval`, which builds the request
  in the newest layout;
- `api/core/helper/ssrf_proxy.py`, `make_request` (the httpx client, its retries, `traceparent`);
- `api/core/rag/entities/metadata_entities.py` (2bcb9a7669d4419e72de5319f3815858c5d8e016), the
  `MetadataCondition` Dify dumps into the body;
- `api/core/rag/retrieval/dataset_retrieval.py`, where the records become `Document`s and sources.

Dify serialises the body with a bare `json.dumps(params)` (`", "` and `": "` separators, non-ASCII
escaped as `\\uXXXX`, keys in the order it builds them) and posts that string through httpx, so the
bytes here are built the same way and sent with `content=`, never `json=` (which httpx would write
compactly and as UTF-8). The cases `tests/api/test_dify.py` covers with its own request shapes (bad
header kinds, unknown KB, threshold filtering, the prefix) are not repeated.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import DEMO
from tests.api.test_dify import QUERY, Keyed

#: a W3C traceparent like the one `ssrf_proxy.make_request` adds when OpenTelemetry is off
TRACEPARENT = "00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3bb55c45-01"
#: `check_endpoint_and_api_key` refuses these answers to its empty POST ...
REGISTRATION_REFUSED = {403, 404, 502}
#: ... and `ssrf_proxy.make_request` retries these, then raises, which the check reports as
#: "failed to connect to the endpoint"
SSRF_RETRIED = {429, 500, 502, 503, 504}


def dify_headers(api_key: str, *, json_body: bool) -> dict[str, str]:
    """The headers Dify's request carries: httpx's client defaults, the Content-Type it sets itself
    only for retrieval (the registration check sends none), its bearer key and the traceparent."""
    headers = {
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
        "Connection": "keep-alive",
        "User-Agent": f"python-httpx/{httpx.__version__}",
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    headers["Authorization"] = f"Bearer {api_key}"
    headers["traceparent"] = TRACEPARENT
    return headers


def dify_params(
    query: str,
    knowledge_id: str,
    retrieval_model: dict[str, Any],
    condition: dict[str, Any] | None = None,
    *,
    omit_missing_condition: bool = False,
) -> dict[str, Any]:
    """`request_params` exactly as `fetch_external_knowledge_retrieval` / `prepare_external_retrieval`
    build them from the dataset's `retrieval_model`: the threshold is 0.0 unless its switch is on.
    68d5f22 and the newest layout always send `metadata_condition` (null without one); the #21070
    version leaves the key out instead."""
    enabled = retrieval_model.get("score_threshold_enabled") or False
    threshold = retrieval_model.get("score_threshold", 0.0) if enabled else 0.0
    params: dict[str, Any] = {
        "retrieval_setting": {"top_k": retrieval_model.get("top_k"), "score_threshold": threshold},
        "query": query,
        "knowledge_id": knowledge_id,
    }
    if condition is not None or not omit_missing_condition:
        params["metadata_condition"] = condition
    return params


def on_the_wire(params: dict[str, Any]) -> bytes:
    """`process_external_api`: `data=json.dumps(settings.params)`, which httpx sends as UTF-8."""
    return json.dumps(params).encode("utf-8")


def replay(client: TestClient, key: str, body: bytes) -> httpx.Response:
    """Dify's retrieval POST to `{endpoint}/retrieval`, with its bytes and headers."""
    return client.post("/retrieval", content=body, headers=dify_headers(key, json_body=True))


def as_dify_reads(response: httpx.Response, top_k: int) -> list[tuple[str, dict[str, Any]]]:
    """The documents Dify keeps, checked against what its code needs of them.

    `fetch_external_knowledge_retrieval` takes `records` from a 200 only: any other status becomes
    no records at all, silently, so a 200 is asserted here. The retrieval then builds
    `Document(page_content=record["content"], metadata=record["metadata"])` (pydantic: a string),
    writes `score` and `title` into that metadata only when it is an object, and its sources take
    `document_id` (or the title) as a string, `score` as a float and `title` as the document name.
    """
    assert response.status_code == 200, response.text
    records = response.json().get("records", [])
    assert isinstance(records, list) and len(records) <= top_k
    documents = []
    for record in records:
        content, metadata = record.get("content"), record.get("metadata")
        score, title = record.get("score"), record.get("title")
        assert isinstance(content, str) and content.strip()
        assert isinstance(metadata, dict)
        assert isinstance(score, int | float) and not isinstance(score, bool) and 0.0 <= score <= 1.0
        assert isinstance(title, str) and title
        assert isinstance(metadata.get("document_id") or title, str)
        documents.append((content, {**metadata, "score": score, "title": title}))
    return documents


@pytest.mark.parametrize(("key_is_good", "accepted"), [(True, True), (False, False)])
def test_the_registration_check_accepts_a_good_key_and_refuses_a_bad_one(
    keyed: Keyed, key_is_good: bool, accepted: bool
) -> None:
    """`check_endpoint_and_api_key`: `POST {endpoint}/retrieval` with only the bearer key, no body
    (httpx writes `Content-Length: 0` and no Content-Type); Dify judges the status code alone."""
    client, demo_key, _ = keyed
    key = demo_key if key_is_good else "rag-not-a-key"
    response = client.post("/retrieval", content=b"", headers=dify_headers(key, json_body=False))
    sent = response.request
    assert sent.content == b"" and sent.headers["content-length"] == "0"
    assert "content-type" not in sent.headers
    status = response.status_code
    assert (status not in REGISTRATION_REFUSED | SSRF_RETRIED) is accepted
    if not accepted:
        assert status == 403 and response.json()["error_code"] == 1002


@pytest.mark.parametrize("omit", [False, True], ids=["condition-null", "condition-omitted"])
def test_retrieval_without_a_metadata_condition(keyed: Keyed, omit: bool) -> None:
    """`fetch_external_knowledge_retrieval` with no metadata filtering: `"metadata_condition": null`
    (68d5f22, and `prepare_external_retrieval` in 69859f9) or no such key (the #21070 version)."""
    client, demo_key, _ = keyed
    retrieval_model = {"top_k": 3, "score_threshold": 0.25, "score_threshold_enabled": True}
    params = dify_params(QUERY, DEMO, retrieval_model, omit_missing_condition=omit)
    body = on_the_wire(params)
    assert b'"score_threshold": 0.25}' in body  # the switch is on: the stored value goes out
    assert (b'"metadata_condition": null' in body) is not omit
    documents = as_dify_reads(replay(client, demo_key, body), top_k=3)
    assert documents and documents[0][1]["title"] == "handbook.md"
    assert "founded in 2014" in documents[0][0]


def test_retrieval_with_the_threshold_switch_off_sends_0_0_and_gets_top_k(keyed: Keyed) -> None:
    """A dataset whose score threshold is set but switched off: Dify sends 0.0 (not the stored 0.99),
    so every hit up to Top K comes back."""
    client, demo_key, _ = keyed
    retrieval_model = {"top_k": 3, "score_threshold": 0.99, "score_threshold_enabled": False}
    body = on_the_wire(dify_params(QUERY, DEMO, retrieval_model))
    assert body == (
        b'{"retrieval_setting": {"top_k": 3, "score_threshold": 0.0}, '
        b'"query": "When was Northwind Robotics founded?", "knowledge_id": "demo", '
        b'"metadata_condition": null}'
    )
    documents = as_dify_reads(replay(client, demo_key, body), top_k=3)
    assert len(documents) == 3
    scores = [metadata["score"] for _, metadata in documents]
    assert scores == sorted(scores, reverse=True)


def test_retrieval_with_a_manual_metadata_condition(keyed: Keyed) -> None:
    """The node's manual filtering: `MetadataCondition(logical_operator="and", conditions=[...])`
    dumped as is, `value` null for "not empty"."""
    client, demo_key, _ = keyed
    condition = {
        "logical_operator": "and",
        "conditions": [
            {"name": "file_name", "comparison_operator": "end with", "value": ".html"},
            {"name": "document_id", "comparison_operator": "not empty", "value": None},
        ],
    }
    retrieval_model = {"top_k": 3, "score_threshold": 0.0, "score_threshold_enabled": False}
    body = on_the_wire(dify_params("How long is the warranty?", DEMO, retrieval_model, condition))
    assert b'"comparison_operator": "not empty", "value": null}' in body
    documents = as_dify_reads(replay(client, demo_key, body), top_k=3)
    assert documents and all(metadata["title"] == "support.html" for _, metadata in documents)
    assert any("24 months" in content for content, _ in documents)


def test_retrieval_with_an_automatic_condition_and_escaped_non_ascii(keyed: Keyed) -> None:
    """The node's automatic filtering with no conditions configured combines the model's filters with
    "or"; Dify's `json.dumps` escapes the Chinese question and the `≥` operator as `\\uXXXX`."""
    client, demo_key, _ = keyed
    condition = {
        "logical_operator": "or",
        "conditions": [
            {"name": "file_name", "comparison_operator": "is", "value": "shenzhen_office.txt"},
            {"name": "page", "comparison_operator": "≥", "value": 100},
        ],
    }
    retrieval_model = {"top_k": 3, "score_threshold_enabled": False}
    body = on_the_wire(dify_params("深圳办公室是哪一年成立的？", DEMO, retrieval_model, condition))
    assert body.isascii() and b"\\u6df1\\u5733" in body and b'"\\u2265"' in body
    documents = as_dify_reads(replay(client, demo_key, body), top_k=3)
    assert documents and all(metadata["title"] == "shenzhen_office.txt" for _, metadata in documents)
    assert "2021" in documents[0][0]


@pytest.mark.parametrize(
    "condition",
    [{"logical_operator": None, "conditions": None}, {"logical_operator": "and", "conditions": None}],
    ids=["both-null", "conditions-null"],
)
def test_retrieval_with_a_condition_whose_fields_are_null(keyed: Keyed, condition: dict[str, Any]) -> None:
    """`MetadataCondition` declares `logical_operator` and `conditions` optional (`conditions` is
    deprecated), so a dumped condition may carry nulls: that is no filter, not a 400 that Dify would
    turn into no records."""
    client, demo_key, _ = keyed
    retrieval_model = {"top_k": 3, "score_threshold_enabled": False}
    body = on_the_wire(dify_params(QUERY, DEMO, retrieval_model, condition))
    assert b'"conditions": null' in body
    documents = as_dify_reads(replay(client, demo_key, body), top_k=3)
    assert any("2014" in content for content, _ in documents)
