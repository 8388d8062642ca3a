"""Which questions pay for a text-to-SQL model call: decided from the question's words alone.

Writing a query is a whole model call (6–7 s with the packaged model on two cores) that the prompt
waits for, so it must be spent only on questions that need a table. Sharing a word with a table is
not enough: every csv/xlsx/JSON row is also indexed as text, so "Who leads the Shenzhen office?"
(offices.json holds "Shenzhen") is answered by the text retrievers, and sending it to SQL only
delays the first token. Three outcomes, each logged as `event=sql_route decision=…`:

- **skip**: no table shares a word with the question, or it shares only sample values, the
  table's (file) name or its description, and the question has no cue below. No model call.
- **sure**: a table shares a word and the question has a cue of the work SQL does over rows: a
  count, sum or average, a comparison, a ranking, a list ("how many", "total", "average", "more
  than", "highest", "list all", "which products…"; 多少, 几个, 总共, 平均, 超过, 最高, 排名, 哪些,
  列出…). The model writes a query.
- **ask**: no cue, but the question names a column of a table ("what is the *price* of the Pallet
  Mover?" asks a value of a row). Words cannot tell this from a text question that happens to use
  a column's word, so the model decides, in the same call that writes the query: the prompt lets
  it answer `NO_SQL` instead (`sql_prompts.py`), which costs that call but no second one.

The cues are plain patterns over the question's text, English and Chinese, not over its index
terms: they are made of stopwords ("how many", "most", 多少) that term matching drops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rag.retrieve.keyword import query_terms
from rag.stores.sql import CatalogueTable

#: Tables shown to the model at most, the most relevant first: a long catalogue costs prompt
#: tokens and confuses small models more than it helps.
MAX_TABLES = 4

Decision = Literal["skip", "sure", "ask"]

_EN = r"(?<![^\W\d_])(?:{})(?![^\W\d_])"  # a whole English word or phrase, not part of a longer word
#: cue kind → patterns over the lower-cased question; the first kind found names the cue
_CUES: dict[str, list[str]] = {
    "count": [
        _EN.format(r"how many|how much|number of|count|how often"),
        r"多少|几[个家位名种类台件条次人年天月]|数量|总数|计数|统计",
    ],
    "sum": [
        _EN.format(r"total|totals|sum|altogether|combined"),
        r"总共|一共|合计|总计|总和|总额|共有|加起来",
    ],
    "average": [
        _EN.format(r"average|mean|median"),
        r"平均|均值|中位数",
    ],
    "compare": [
        _EN.format(r"(?:more|less|fewer|\w+er) than|at least|at most|between"),
        # "over 100", "below €500", "after 2020": a bound, not "over the weekend"
        _EN.format(r"over|under|above|below|exceeding|after|before|since") + r"\s*[$€£¥]?\d",
        r"超过|高于|低于|大于|小于|多于|少于|不到|不足|以上|以下|之间|比(?!如).{0,12}?[更多少高低大小贵早晚]",
    ],
    "rank": [
        _EN.format(
            r"most|least|top|highest|lowest|largest|smallest|biggest|cheapest|newest|oldest|latest"
            r"|earliest|maximum|minimum|max|min|rank|ranked|ranking|(?:ordered|sorted) by|in order of"
        ),
        r"最(?![近终后初])|排名|排行|排序|前[一二三四五六七八九十\d]+[名个位家]",
    ],
    "list": [
        _EN.format(r"list|all|every|each|per"),
        # "which products…", "which offices…": a plural after "which" asks for rows, not one thing
        _EN.format(r"which") + r"\s+(?!(?:is|was|has|does|goes)\b)\w*[^\Ws]s\b",
        r"哪些|列出|列举|所有|全部|每个|每家|每位|每种|每类|各个|各家|各类",
    ],
}
_CUE_PATTERNS = {kind: re.compile("|".join(patterns)) for kind, patterns in _CUES.items()}


@dataclass(frozen=True, slots=True)
class Route:
    """What the SQL retriever does with a question, and why (for the log: no question text)."""

    decision: Decision
    #: the tables to show the model, most shared terms first; [] when skipped
    tables: list[CatalogueTable] = field(default_factory=list)
    #: "no_table", "values_only" (sample values, names), "column", or the cue's kind ("count"…)
    why: str = "no_table"


def _stem(term: str) -> str:
    """ "employees" and "employee", "cities" and "city" meet; enough for routing, not a stemmer."""
    if len(term) > 4 and term.endswith("ies"):
        return term[:-3] + "y"
    if len(term) > 3 and term.endswith("s") and not term.endswith("ss"):
        return term[:-1]
    return term


def terms(text: str) -> set[str]:
    """Stemmed index terms (tokenized like the keyword index); `_` separates words in a column name."""
    return {_stem(term) for term in query_terms(text.replace("_", " "))}


def table_terms(table: CatalogueTable) -> set[str]:
    """The words a question about this table is likely to use: its names, columns and sample values."""
    parts: list[str] = [table.source_name, table.description]
    parts += [column["name"] for column in table.columns]
    parts += [str(value) for row in table.sample_rows for value in row if isinstance(value, str)]
    return terms(" ".join(parts))


def column_terms(table: CatalogueTable) -> set[str]:
    """The words of the table's column names, without bare numbers: `units_sold_2024` is named by
    "units" or "sold", while "2024" in a question is a year more often than a column."""
    named = terms(" ".join(column["name"] for column in table.columns))
    return {term for term in named if not term.isdigit()}


def cue(question: str) -> str | None:
    """The first kind of row work, in the order count, sum, average, compare, rank, list, that the
    question has a cue of, or None: any kind routes it, the kind only names it in the log."""
    text = question.lower()
    return next((kind for kind, pattern in _CUE_PATTERNS.items() if pattern.search(text)), None)


def route(question: str, tables: list[CatalogueTable]) -> Route:
    """Skip, write a query for sure, or let the model decide (module docstring): the tables sharing
    a term with the question, most shared terms first, at most `MAX_TABLES`."""
    asked = terms(question)
    scored = [(len(asked & table_terms(table)), table) for table in tables]
    relevant = [table for _, table in sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])]
    if not relevant:
        return Route("skip")
    kind = cue(question)
    if kind is not None:
        return Route("sure", relevant[:MAX_TABLES], kind)
    if any(asked & column_terms(table) for table in relevant):
        return Route("ask", relevant[:MAX_TABLES], "column")
    return Route("skip", why="values_only")
