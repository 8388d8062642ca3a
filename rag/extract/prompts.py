"""The LLM extractor's prompt (a wording change here changes its cache keys)."""

from __future__ import annotations

from rag.common.chat import Message

#: Entity types match the heuristic extractor's, so both extractors type the same graph the same way.
EXTRACT_SYSTEM = """\
You extract a knowledge graph from a text. Answer with one JSON object and nothing else:
{"entities": [{"name": "...", "type": "person|organization|location|other"}],
 "relations": [{"source": "...", "target": "...", "type": "..."}]}
Entities are the people, organizations, places and other named things the text names; copy each name \
exactly as the text writes it. A relation links two of those entities; its type is a short snake_case \
verb such as works_at, founded, located_in, acquired, ceo_of, part_of. Use empty lists when the text \
names nothing.
Example text: Ada Lovelace worked with Charles Babbage in London.
Example answer: {"entities": [{"name": "Ada Lovelace", "type": "person"}, \
{"name": "Charles Babbage", "type": "person"}, {"name": "London", "type": "location"}], \
"relations": [{"source": "Ada Lovelace", "target": "Charles Babbage", "type": "worked_with"}, \
{"source": "Ada Lovelace", "target": "London", "type": "located_in"}]}"""


def extract_messages(text: str) -> list[Message]:
    return [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": f"Text: {text}"},
    ]


def extract_retry(messages: list[Message], reply: str, error: str) -> list[Message]:
    """The conversation so far, the invalid reply, and what was wrong with it, for one more try."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": f"That answer is invalid ({error}). Answer again with only the JSON object.",
        },
    ]
