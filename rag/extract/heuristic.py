"""Entities and relations from chunks, behind a small protocol so an LLM extractor can plug in later.

`HeuristicExtractor` is the offline default: it runs over every chunk ingested, so it is built from
regular expressions and set lookups (English) and jieba's dictionary tags (Chinese), not from a model.
It favours precision: a plain capitalised word that opens a sentence ("However", "Yesterday") is only
an entity when the same batch also shows it capitalised mid-sentence.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from rag.models import (
    CO_OCCURS,
    LOCATION,
    ORGANIZATION,
    OTHER,
    PERSON,
    Chunk,
    Entity,
    GraphBatch,
    Mention,
    Relation,
    entity_id,
)

#: How much one occurrence's evidence counts when an entity's type is decided over a batch.
#: A cue in the text (legal form, title) beats a word list, which beats a guess (jieba's dictionary
#: tags are dated and noisy: it tags 华为 as a person) or the role in a relation.
_CUE, _LEXICON, _GUESS = 3, 2, 1


class Extractor(Protocol):
    """Turns a batch of chunks of one KB into the graph the graph store records."""

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch: ...


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- lexicons (lower-case) ---------------------------------------------------------------------

#: Capitalised words that are never an entity alone: function words, sentence openers, calendar words.
_STOP = _words(
    """a an the this that these those there here it its it's i me my we our you your he him his she
    her they them their who whom whose which what when where why how whether if then than so as at by for
    from in into of on onto to with within without about above below after before during since until
    while although though because unless however moreover furthermore meanwhile nevertheless therefore
    thus hence also still yet but and or nor not no yes all any each every some many most much more
    less few several both either neither other another such same one two three first second third next
    last final finally today yesterday tomorrow now recently currently later earlier soon once again
    please note see figure table chapter section page part step example appendix abstract summary
    introduction conclusion overview contents according regarding following based despite instead
    unlike like including our let can could may might must shall should will
    would do does did is are was were be been being have has had get got make made use used using
    january february march april may june july august september october november december jan feb mar
    apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday mon
    tue wed thu fri sat sun spring summer autumn fall winter am pm ok okay hello hi dear thanks thank
    mr mrs ms miss dr prof professor sir dame president vice senator governor mayor minister chairman
    chairwoman chair ceo cfo cto coo cio cmo founder cofounder co-founder director manager rev reverend
    vp svp evp hr pr it ai ml api url pdf faq tbd todo nb id gmt utc usd eur gbp jpy cny rmb gdp kpi roi
    fy q1 q2 q3 q4 kb mb gb tb pb kw mw gw kwh mwh hz khz mhz ghz km cm mm kg mg mbps gbps nm"""
)

#: Titles that make the name right after them a person.
_TITLES = _words(
    """mr mrs ms miss dr prof professor sir dame president senator governor mayor minister chairman
    chairwoman ceo cfo cto coo cio cmo founder cofounder co-founder rev reverend"""
)

#: Legal-form words dropped from the normalised name, so "Acme Corp." and "Acme Corporation" meet.
_CORPORATE_SUFFIXES = _words(
    """inc incorporated corp corporation co company cos ltd limited llc llp lp plc gmbh ag sa nv bv se
    spa srl kg oy ab pty pte kk group holdings holding"""
)

_ORG_WORDS = _CORPORATE_SUFFIXES | _words(
    """university college institute school academy bank foundation association society agency ministry
    department council committee commission bureau laboratories laboratory labs technologies technology
    systems solutions software networks motors airlines airways pharmaceuticals partners capital
    ventures media press times news hospital clinic party union federation league club fund trust
    organization organisation corporation alliance consortium"""
)
_ORG_HEADS = _words("university bank ministry department institute school college bureau")

_LOCATION_WORDS = _words(
    """city county province state river lake mountain mountains island islands bay sea ocean valley
    street avenue road square park district region republic kingdom desert peninsula coast"""
)
_LOCATION_HEADS = _words("mount lake cape fort port gulf")
#: First words that belong to a name even when the name opens a sentence: "Bank of America".
_NAME_HEADS = _ORG_HEADS | _ORG_WORDS | _LOCATION_HEADS | _LOCATION_WORDS

#: Countries, regions and large cities: enough to type the places most documents name.
_PLACES = frozenset(
    name.strip().lower()
    for name in """Afghanistan,Africa,America,Amsterdam,Argentina,Asia,Athens,Australia,Austria,Bangkok,
    Barcelona,Beijing,Belgium,Berlin,Boston,Brazil,Brussels,Cairo,California,Canada,Chicago,Chile,China,
    Colombia,Copenhagen,Denmark,Dubai,Dublin,Egypt,England,Europe,Finland,France,Frankfurt,Geneva,Germany,
    Greece,Guangzhou,Hamburg,Hangzhou,Helsinki,Hong Kong,India,Indonesia,Iran,Iraq,Ireland,Israel,
    Istanbul,Italy,Jakarta,Japan,Kenya,Korea,Lisbon,London,Los Angeles,Madrid,Malaysia,Melbourne,Mexico,
    Milan,Moscow,Mumbai,Munich,Netherlands,New Delhi,New York,New Zealand,Nigeria,Norway,Oslo,Pakistan,
    Paris,Peru,Philippines,Poland,Portugal,Prague,Rome,Russia,San Francisco,Saudi Arabia,Scotland,Seattle,
    Seoul,Shanghai,Shenzhen,Singapore,South Africa,Spain,Stockholm,Sweden,Switzerland,Sydney,Taiwan,
    Texas,Thailand,Tokyo,Toronto,Turkey,UK,Ukraine,United Kingdom,United States,US,USA,Vancouver,Vienna,
    Vietnam,Wales,Warsaw,Washington,Zurich""".split(",")  # noqa: SIM905 - a literal would span 30 lines
)

#: Common given names: a two- or three-word name starting with one is a person.
_GIVEN_NAMES = _words(
    """james john robert michael william david richard joseph thomas charles christopher daniel matthew
    anthony mark donald steven paul andrew joshua kevin brian george edward ronald timothy jason jeffrey
    ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel frank
    gregory alexander patrick jack peter henry carl arthur bill tim tom bob jim mike steve elon jeff
    sam satya sundar mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa
    betty margaret sandra ashley emily donna michelle carol amanda melissa deborah stephanie rebecca
    laura sharon cynthia kathleen amy anna angela helen emma olivia sophia alice jane julia maria
    claire grace rachel hannah ruth diana marie anne kate kim wei li jun ming hui yan"""
)

# --- English patterns ----------------------------------------------------------------------------

_UPPER = "A-ZÀ-ÖØ-Þ"
_LATIN = "A-Za-zÀ-ÖØ-öø-ÿ0-9"
_WORD = rf"[{_UPPER}][{_LATIN}&'’\-]*"
_CONNECTOR = r"(?:of|for|&|de|du|des|da|di|del|della|van|von|der|den|la|le|y)"
#: A run of capitalised words on one line, joined by spaces or by connectors ("Bank of America").
_SPAN = re.compile(rf"(?<![{_LATIN}&'’\-]){_WORD}(?:[ \t]+(?:{_CONNECTOR}[ \t]+)?{_WORD})*")
_TOKEN = re.compile(r"\S+")
_OPENING_HEAD = re.compile(r"(\S+)[ \t]+(?:of|for|de|du|des|da|di|del|della|van|von|der|den|la|le|y)[ \t]+")
_ALNUM = re.compile(r"[^\W_]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_NUMBER_BEFORE = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:[.,]\d+)*|\d+\.\d+)\s*$")
_TITLE_BEFORE = re.compile(r"(?:^|[^a-z])(?:mr|mrs|ms|dr|prof|sir|dame)\.?\s+$")
_PERSON_AFTER = re.compile(
    r"\s*(?:,\s*who\b|,\s*aged?\s+\d|said\b|says\b|told\b|explained\b|added\b|wrote\b)"
)
_PROSE_WORD = re.compile(r"(?<![A-Za-z])[a-z]{4,}")
_ABBREVIATION_END = re.compile(
    r"(?:^|[^A-Za-z])(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|Mt|Ft|No|Gen|Col|Lt|Sgt|Capt|Rev|Hon|[A-Z])$"
)
#: Candidate sentence ends: punctuation, paragraph breaks, list items, and any other line break ("wrap",
#: which `_sentence_starts` weighs).
_BOUNDARY = re.compile(
    r"[.!?]+[\"'”’)\]]*(?=\s)|[。！？；]|\n\s*\n|\n(?=[ \t]*(?:[-*•·#>|]|\d+[.)]\s))|(?P<wrap>\n)"
)
_LOWER_NEXT = re.compile(r"\s+[a-z]")
_SPACES = re.compile(r"\s+")
_COMMA = re.compile(r"\s*[,，]\s*")

# --- names -----------------------------------------------------------------------------------------

_DROP_IN_KEY = re.compile(r"[.'’`´\"“”]")
_SPACE_IN_KEY = re.compile(r"[^\w&]+")
_ZH_LEGAL_FORM = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团公司|集团|公司)$")
_ZH_TRADE = re.compile(r"(?:科技|技术|控股)$")


def normalize_name(name: str) -> str:
    """The key an entity is stored under: case, punctuation and legal form do not make a new entity.

    "Acme Corp.", "ACME Corp" and "Acme Corporation" → "acme"; "华为技术有限公司" → "华为".
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _SPACE_IN_KEY.sub(" ", _DROP_IN_KEY.sub("", text))
    words = text.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and (words[-1] in _CORPORATE_SUFFIXES or words[-1] == "&"):
        words.pop()
    key = " ".join(words)
    stripped = _ZH_LEGAL_FORM.sub("", key)
    if len(stripped) >= 2:
        key = stripped
        trade = _ZH_TRADE.sub("", key)
        if trade != key and len(trade) >= 2:
            key = trade
    return key


# --- relations ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    """Text between two consecutive entities (and, optionally, right after the second) that types them.

    `reverse` means the second entity is the relation's source ("Y was acquired by X").
    """

    between: re.Pattern[str]
    type: str
    reverse: bool = False
    after: re.Pattern[str] | None = None


def _p(between: str, type_: str, reverse: bool = False, after: str | None = None) -> _Pattern:
    return _Pattern(re.compile(between), type_, reverse, re.compile(after) if after else None)


# A bare comma before a verb is usually an apposition whose subject lies further back ("Bank of America,
# headquartered in Charlotte, bought …"), so verbs take a comma only with a relative pronoun; participles
# and role nouns ("Initech, based in Austin", "Bob, the CEO of Acme") take it alone.
_WHO = r"(?:(?:, )?(?:who|which|that) )?(?:(?:now|currently|still|also|previously|later|has|had|have) )*"
_APPOSITION = rf"(?:, )?{_WHO}"
_CEO = r"(?:the )?(?:current |former |new )?(?:ceo|chief executive(?: officer)?)"

#: Matched against the normalised text between two entities: lower case, single spaces, ", " commas.
_PATTERNS = (
    _p(
        rf"{_WHO}(?:works?|worked|working|is working|was working|been working|is employed|was employed)"
        r" (?:at|for|with)(?: the)?",
        "works_at",
    ),
    _p(rf"{_WHO}(?:joined|joins)(?: the)?", "works_at"),
    _p(
        rf"{_WHO}(?:is |was )?(?:an? )?(?:employee|engineer|researcher|scientist|developer|analyst|manager)"
        r" (?:at|of|for|with)(?: the)?",
        "works_at",
    ),
    _p(rf"{_WHO}(?:co-?)?(?:founded|established|set up)(?: the)?", "founded"),
    _p(rf"{_APPOSITION}(?:is |was )?(?:the |a |an )?(?:co-?)?founder (?:of|at)(?: the)?", "founded"),
    _p(
        r"(?:, )?(?:(?:which|that) )?(?:is |was |were |had been |has been )?(?:co-?)?founded by",
        "founded",
        True,
    ),
    _p(r"(?:'s |’s )?(?:co-?)?founders?,?", "founded", True),
    _p(
        rf"{_APPOSITION}(?:is |are |was |were )?(?:located|based|headquartered|situated|registered)"
        r" (?:in|at)(?: the)?",
        "located_in",
    ),
    _p(rf"{_WHO}(?:its )?(?:headquarters|head office|main office) (?:is |are )?in(?: the)?", "located_in"),
    _p(
        rf"{_WHO}(?:acquired|acquires|bought|buys|purchased|took over|agreed to (?:acquire|buy)|will acquire"
        r"|is acquiring|completed (?:its |the )?acquisition of)(?: the)?",
        "acquired",
    ),
    _p(r"(?:'s |’s )acquisition of(?: the)?", "acquired"),
    _p(
        r"(?:, )?(?:(?:which|that) )?(?:was |were |has been |had been |is being )?"
        r"(?:acquired|bought|purchased|taken over) by(?: the)?",
        "acquired",
        True,
    ),
    _p(
        rf"{_APPOSITION}(?:is |was |became |becomes |serves as |served as )?{_CEO} (?:of|at)(?: the)?",
        "ceo_of",
    ),
    _p(rf"(?:'s |’s )?{_CEO},?", "ceo_of", True),
    # Chinese: the text between two entities, and what follows the second for "X在Y工作".
    _p(r"(?:的)?(?:总部)?(?:位于|坐落于|地处|设在|设于)", "located_in"),
    _p(r"(?:创立|创办|创建|成立|建立)了?", "founded"),
    _p(r"是", "founded", after=r"的?(?:创始人|创办人)"),
    _p(r"(?:的)?(?:创始人|创办人)(?:是)?", "founded", True),
    _p(r"(?:是)?由", "founded", True, after=r"(?:等人?)?(?:[于在][^，。,]{0,12})?(?:创立|创办|创建|成立)"),
    _p(r"(?:在|于)", "works_at", after=r"(?:工作|任职|任教|上班|就职)"),
    _p(r"(?:曾)?(?:就职于|任职于|供职于|加入了?|效力于)", "works_at"),
    _p(r"(?:收购了?|并购了?|买下了?)", "acquired"),
    _p(r"被", "acquired", True, after=r"(?:收购|并购)"),
    _p(r"(?:是|曾是|担任|出任|曾担任|曾任|任)", "ceo_of", after=r"的?(?:首席执行官|ceo|总裁|总经理)"),
    _p(r"的?(?:首席执行官|ceo|总裁)(?:是)?", "ceo_of", True),
)

#: One pass that rejects the text between most pairs before the patterns are tried one by one.
_ANY_PATTERN = re.compile("|".join(f"(?:{pattern.between.pattern})" for pattern in _PATTERNS))

#: What a relation says about the types of its ends, where nothing stronger did.
_ROLE_TYPES = {
    "works_at": (PERSON, ORGANIZATION),
    "ceo_of": (PERSON, ORGANIZATION),
    "founded": (None, ORGANIZATION),
    "located_in": (None, LOCATION),
    "acquired": (ORGANIZATION, ORGANIZATION),
}

#: Co-occurrence pairs grow with the square of a sentence's entities; long lists add noise, not facts.
_MAX_PER_SENTENCE = 10

# --- Chinese -------------------------------------------------------------------------------------

_ZH_TYPES = {"nr": PERSON, "nrfg": PERSON, "nrt": OTHER, "ns": LOCATION, "nt": ORGANIZATION, "nz": OTHER}
#: A legal form or institution word at the start of the token after a name: "小米" + "公司", and also
#: "腾讯" + "公司总部" (one dictionary word).
_ZH_ORG_SUFFIX = re.compile(
    "股份有限公司|有限责任公司|有限公司|集团公司|公司|集团|银行|大学|学院|研究院|研究所|医院|协会|委员会"
)
_ZH_GENERIC = _words(
    """科技 技术 网络 互联网 软件 投资 控股 上市 物流 电子 能源 汽车 金融 保险 证券 咨询 管理 服务 贸易 建筑
    传媒 文化 医药 生物 信息 数据 电力 通信 国有 民营 私营 外资 跨国 一家 两家 多家 几家 这家 那家 每家 各家
    某 该 此 子 母 分 总 本 新 大 小 其 各"""
)
_ZH_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_ZH_LOCATION_END = frozenset("省市县区镇村州")
_ZH_PREPOSITIONS = frozenset("由在和与被从向对把将是")


@functools.cache
def _jieba() -> tuple[Callable[[str], Iterable[str]], dict[str, str]]:
    """jieba's segmenter and its dictionary's part-of-speech tags, loaded on first Chinese text (~1 s).

    Segmentation with jieba's fast HMM plus a tag lookup runs ~10x faster than `jieba.posseg.cut`,
    whose joint HMM dominates its cost; unknown words get tags from surname and suffix rules instead.
    """
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.cut, jieba.posseg.dt.word_tag_tab


# --- extraction ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    """One occurrence of an entity in a chunk."""

    start: int
    end: int
    name: str
    key: str
    type: str
    weight: int
    sentence: int
    initial: bool  # opens its sentence, so its capital letter proves nothing


class HeuristicExtractor:
    """Named entities by capitalisation and cue words (English) and jieba tags (Chinese); relations by
    co-occurrence in a sentence, typed where a verb pattern between two entities says how they relate.
    """

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch:
        found = [_find_all(chunk.text) for chunk in chunks]
        # A sentence-initial single word counts when the batch also shows it capitalised elsewhere.
        known = {f.key for per_chunk in found for f in per_chunk if not f.initial}
        found = [[f for f in per_chunk if not f.initial or f.key in known] for per_chunk in found]

        names: dict[str, Counter[str]] = defaultdict(Counter)
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for per_chunk in found:
            for f in per_chunk:
                names[f.key][f.name] += 1
                if f.type != OTHER:
                    votes[f.key][f.type] += f.weight
        chunk_relations = [
            _relations(chunk.text, per_chunk) for chunk, per_chunk in zip(chunks, found, strict=True)
        ]
        for relations in chunk_relations:
            for source, target, type_ in relations:
                for key, role in zip((source, target), _ROLE_TYPES.get(type_, (None, None)), strict=True):
                    if role is not None:
                        votes[key][role] += _GUESS

        ids = {key: entity_id(kb, key) for key in names}
        batch = GraphBatch(kb=kb, chunks=list(chunks))
        batch.entities = [
            Entity(ids[key], kb, _display_name(variants), _decide_type(votes[key]))
            for key, variants in names.items()
        ]
        for chunk, per_chunk, relations in zip(chunks, found, chunk_relations, strict=True):
            for key in dict.fromkeys(f.key for f in per_chunk):
                batch.mentions.append(Mention(chunk.id, ids[key]))
            for source, target, type_ in relations:
                batch.relations.append(
                    Relation(kb, ids[source], ids[target], type_, chunk.id, chunk.document_id)
                )
        return batch


def _find_all(text: str) -> list[_Found]:
    starts = _sentence_starts(text)
    found = _find_english(text, starts)
    if _HAN.search(text):
        found += _find_chinese(text, starts)
        found.sort(key=lambda f: f.start)
    return found


def _sentence_starts(text: str) -> list[int]:
    """Offsets where sentences begin.

    A period ends no sentence after "Dr." or an initial, nor before a lower-case word ("Acme Corp. is");
    a line break ends one only after a line without prose (a heading, a label, a table row), since in
    extracted PDF text most line breaks are wrapping.
    """
    starts = [0]
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        mark = match.group()
        if mark.startswith("."):
            if _ABBREVIATION_END.search(text[max(0, match.start() - 5) : match.start()]):
                continue
            if _LOWER_NEXT.match(text, end):
                continue
        elif match.lastgroup == "wrap" and _PROSE_WORD.search(
            text, text.rfind("\n", 0, match.start()) + 1, match.start()
        ):
            continue
        starts.append(end)
    return starts


def _find_english(text: str, starts: list[int]) -> list[_Found]:
    found: list[_Found] = []
    shapes: dict[int, str] = {}
    for span in _SPAN.finditer(text):
        sentence = bisect_right(starts, span.start()) - 1
        if sentence not in shapes:
            shapes[sentence] = _shape(text, starts, sentence)
        if shapes[sentence] == "shouting":
            continue
        for piece_start, end, title in _split_span(text, span.start(), span.end()):
            start, opens = piece_start, not _ALNUM.search(text, starts[sentence], piece_start)
            if (
                opens
                and (head := _OPENING_HEAD.match(text, start, end))
                and head[1].lower() not in _NAME_HEADS
            ):
                start, opens = head.end(), False  # "Shares of Initech" opening a sentence is "Initech"
            name = text[start:end]
            words = name.split()
            if len(words) == 1 and _NUMBER_BEFORE.search(text[max(0, start - 12) : start]):
                continue  # a unit: "500 MW", "3 Gbps"
            type_, weight = _english_type(text, start, end, words, title)
            if shapes[sentence] == "heading":
                initial = True  # in "Getting Started" every word is capitalised
            else:
                # Multi-word names, acronyms and cue-typed names are evidence enough at a sentence start.
                strong = len(words) > 1 or name.isupper() or weight >= _LEXICON
                initial = opens and not strong
            found.append(_Found(start, end, name, normalize_name(name), type_, weight, sentence, initial))
    return found


def _split_span(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Cut a capitalised run at stop words and titles: "Yesterday CEO Jane Doe" → "Jane Doe" (titled).

    Yields (start, end, preceded by a title) for each remaining piece of one to six words.
    """
    pieces: list[tuple[int, int, bool]] = []
    piece_start = piece_end = -1
    title = False
    for token in _TOKEN.finditer(text, start, end):
        word = token.group()
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        if not word[0].isupper():
            # A connector inside a name ("Bank of America", "Procter & Gamble") or after a title word.
            title = title and piece_start >= 0
            continue
        lower = word.lower()
        if lower in _STOP or len(word) < 2:
            if piece_start >= 0:
                pieces.append((piece_start, piece_end, title))
                piece_start = -1
            title = lower in _TITLES
            continue
        if piece_start < 0:
            piece_start = token.start()
        piece_end = token.start() + len(word.rstrip("-&'’"))
    if piece_start >= 0:
        pieces.append((piece_start, piece_end, title))
    return [(s, e, t) for s, e, t in pieces if len(text[s:e].split()) <= 6 and text[s:e][-1].isalnum()]


def _shape(text: str, starts: list[int], sentence: int) -> str:
    """How far capitals mean names in a sentence.

    "shouting": mostly capitals ("WARNING: DO NOT OPEN"), every word would pass for an acronym;
    "heading": no prose word and no sentence end ("Getting Started"), every word is capitalised;
    "prose": capitals carry meaning.
    """
    end = starts[sentence + 1] if sentence + 1 < len(starts) else len(text)
    part = text[starts[sentence] : end].strip()
    if _PROSE_WORD.search(part):
        return "prose"
    if sum(map(str.isupper, part)) > sum(map(str.islower, part)):
        return "shouting"
    if part.endswith((".", "!", "?", ":", ";", "。", "！", "？")):
        return "prose"
    return "heading"


def _english_type(text: str, start: int, end: int, words: list[str], title: bool) -> tuple[str, int]:
    lower = [w.lower().rstrip(".") for w in words]
    if title or _TITLE_BEFORE.search(text[max(0, start - 8) : start].lower()):
        return PERSON, _CUE
    if lower[-1] in _ORG_WORDS or (len(lower) > 1 and lower[0] in _ORG_HEADS):
        return ORGANIZATION, _CUE
    if " ".join(lower) in _PLACES:
        return LOCATION, _LEXICON
    if len(lower) > 1 and (lower[-1] in _LOCATION_WORDS or lower[0] in _LOCATION_HEADS):
        return LOCATION, _CUE
    if 2 <= len(lower) <= 3 and lower[0] in _GIVEN_NAMES:
        return PERSON, _LEXICON
    if _PERSON_AFTER.match(text, end):
        return PERSON, _GUESS
    return OTHER, 0


def _find_chinese(text: str, starts: list[int]) -> list[_Found]:
    cut, tags = _jieba()
    tokens: list[tuple[int, str]] = []
    offset = 0
    for token in cut(text):
        tokens.append((offset, token))
        offset += len(token)
    found: list[_Found] = []
    index = 0
    while index < len(tokens):
        start, token = tokens[index]
        index += 1
        if len(token) < 2 or not _HAN.match(token):
            continue
        tag = tags.get(token)
        if tag is None:
            token, start, tag = _guess_unknown(token, start)
        type_ = _ZH_TYPES.get(tag or "")
        weight = _CUE if type_ == ORGANIZATION and _ZH_LEGAL_FORM.search(token) else _GUESS
        end = start + len(token)
        if type_ or token not in _ZH_GENERIC:
            # The legal form after a name makes it an organisation: "小米" + "公司", "阿里巴巴" + "集团".
            while index < len(tokens) and (suffix := _ZH_ORG_SUFFIX.match(tokens[index][1])):
                end = tokens[index][0] + suffix.end()
                type_, weight = ORGANIZATION, _CUE
                if suffix.end() < len(tokens[index][1]):
                    break
                index += 1
        if type_ is None:
            continue
        name = text[start:end]
        sentence = bisect_right(starts, start) - 1
        found.append(_Found(start, end, name, normalize_name(name), type_, weight, sentence, False))
    return found


def _guess_unknown(token: str, start: int) -> tuple[str, int, str | None]:
    """A word missing from jieba's dictionary (found by its HMM): a name by its surname, a place or an
    organisation by its last characters. A leading preposition the HMM glued on ("由马云") is cut off.
    """
    if len(token) > 2 and token[0] in _ZH_PREPOSITIONS:
        token, start = token[1:], start + 1
    if 2 <= len(token) <= 3 and token[0] in _ZH_SURNAMES:
        return token, start, "nr"
    if token[-1] in _ZH_LOCATION_END:
        return token, start, "ns"
    return token, start, None


def _relations(text: str, found: list[_Found]) -> list[tuple[str, str, str]]:
    """(source key, target key, type) per sentence: typed where a pattern matches, else co-occurrence."""
    relations: dict[tuple[str, str, str], None] = {}
    by_sentence: dict[int, list[_Found]] = defaultdict(list)
    for f in found:
        by_sentence[f.sentence].append(f)
    for members in by_sentence.values():
        typed: set[frozenset[str]] = set()
        for first, second in itertools.pairwise(members):
            if first.key == second.key:
                continue
            type_, reverse = _typed(text, first, second)
            if type_:
                source, target = (second, first) if reverse else (first, second)
                relations[(source.key, target.key, type_)] = None
                typed.add(frozenset((first.key, second.key)))
        keys = list(dict.fromkeys(f.key for f in members))[:_MAX_PER_SENTENCE]
        for i, source in enumerate(keys):
            for target in keys[i + 1 :]:
                if frozenset((source, target)) not in typed:
                    relations[(source, target, CO_OCCURS)] = None
    return list(relations)


def _typed(text: str, first: _Found, second: _Found) -> tuple[str | None, bool]:
    if second.start - first.end > 80:
        return None, False
    between = _COMMA.sub(", ", _SPACES.sub(" ", text[first.end : second.start].lower())).strip()
    if first.type == second.type == LOCATION:
        if between == ",":
            return "located_in", False  # "Berlin, Germany"
        if not between and _HAN.match(second.name):
            return "located_in", True  # "广东省深圳市"
    if not _ANY_PATTERN.fullmatch(between):
        return None, False
    for pattern in _PATTERNS:
        if pattern.between.fullmatch(between) and (
            pattern.after is None or pattern.after.match(text[second.end : second.end + 20].lower())
        ):
            return pattern.type, pattern.reverse
    return None, False


def _display_name(variants: Counter[str]) -> str:
    """The most frequent spelling; on a tie mixed case over capitals ("Acme Corp" over "ACME CORP")."""
    order = {name: i for i, name in enumerate(variants)}
    return max(variants, key=lambda name: (variants[name], not name.isupper(), -order[name]))


def _decide_type(votes: Counter[str]) -> str:
    return votes.most_common(1)[0][0] if votes else OTHER
