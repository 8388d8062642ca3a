"""Follow-up questions that refer back, made from self-contained ones by rule, in English and Chinese.

The conversation builder (`build_conversations.py`) turns a question that names an entity into
the follow-up a user would ask after talking about that entity: the name becomes a pronoun. No
model writes anything: the pronoun is chosen from the entity's own passage (its first sentence's
dates and verb, the pronouns the passage uses), and its case from the words around the mention.
The rules are simple on purpose, so a wrong pronoun is easy to see in the output; they do not
promise perfect grammar ("Are he and X both directors?" stays as it comes).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rag.common.cjk import HAN_UNIFIED_CHAR, jieba_word_tags, load_jieba


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: a life span or birth in a passage's opening parentheses: "(born 30 July 1970)", "(c. 1243)",
#: "(18 January 1954 – 13 May 2013)", "(1572 – 16 September 1625)"
_LIFE_DATES = re.compile(r"\([^()]*?(?:\bborn\b|\bc\.\s*\d|\b\d{3,4}\s*[–-])[^()]*\)")
#: what a biography's opening calls its subject ("is an American political consultant")
_PERSON_NOUN = re.compile(
    r"\b(?:is|was)\s+(?:a|an|the)\s+(?:(?!(?:by|of|for|from|with|to|in|on|at)\s)[\w-]+\s+){0,6}?"
    r"(?:actor|actress|singer|musician|songwriter|character|rapper|writer|author|novelist|poet|journalist|politician|legislator|senator|lawyer|consultant|"
    r"executive|businessman|businesswoman|entrepreneur|footballer|athlete|coach|painter|composer|"
    r"scientist|philosopher|director|broadcaster)\b"
)
#: the first of these in a person's passage gives the pronoun ("the first wife of …", "the son of …")
_GENDERED = re.compile(
    r"\b(?:(he|his|him|himself|son|husband|father|brother|king|man|male|boy)|"
    r"(she|her|hers|herself|daughter|wife|mother|sister|queen|actress|woman|female|girl))\b",
    re.IGNORECASE,
)
_COPULA = re.compile(r"\b(is|was|are|were)\b")
#: words after which a pronoun takes its object form ("the era of him", "directed by her")
_PREPOSITIONS = _words(
    "of in by with for to from at on about than between into onto over under after before like as "
    "via against among featuring including around near through during within without behind beside "
    "across toward towards upon since until"
)
#: words after which a pronoun takes its subject form ("where she was born", "Was he …")
_SUBJECT_AFTER = _words(
    "and or but when where while if that which who whom whose what how why is was are "
    "were do does did has have had can could will would"
)
_ARTICLES = _words("the a an")
_AUXILIARIES = re.compile(r"\b(?:are|were|is|was|do|did|does|have|has|had|can|could|would|will)\s*$", re.I)
_PLURAL_VERBS = {"is": "are", "was": "were", "does": "do", "has": "have"}
_DISAMBIGUATION = re.compile(r"\s*\([^()]*\)$")
_ZH_EDGES = frozenset("·-－（）()《》「」")
_HAN_NAME = re.compile(r"[\u4e00-\u9fff·]+")
#: what a Chinese person's passage says first (its name taken out): a life span in brackets, sex,
#: where they are from ("天津人。", "幽州蓟县人。"), a courtesy name, a career's start
_ZH_PERSON = re.compile(
    r"[（(][^（）()]*\d{3,4}年[^（）()]*[－—–-][^（）()]*[）)]|(?<![原野产])生于|出生|逝世|卒于|去世|"
    r"(?:^|[，。、（）])[男女][，。、]|"
    r"^[^。]{0,40}?[，,；]\s*[\u4e00-\u9fff]{2,8}人[，。；]|(?:省|市|县|州|郡|府)[\u4e00-\u9fff]{0,4}人[，。；]|"
    r"[，）)]字[\u4e00-\u9fff]{1,2}[，。、]|参加工作|[之长次][女子][，。]"
)
_ZH_BRACKETS = re.compile(r"[（(][^（）()]*[）)]")
#: ... or a role, said in its first words outside brackets ("法国政治家", "台湾电影、电视与舞台剧女演员")
_ZH_ROLE = re.compile(
    r"政治家|政治人物|运动员|球员|演员|歌手|选手|艺人|主持人|作家|词人|诗人|画家|哲学家|学者|将领|武将|"
    r"皇后|王后|王妃|先知|男主角|女主角|模特儿|赛车手|教练|专员|局长|处长|部长|总监|外交官|国王|嫡男"
)


@dataclass(frozen=True, slots=True)
class Pronoun:
    subject: str
    object: str
    possessive: str
    #: a person is asked about with "Who", anything else with "What"
    person: bool


HE = Pronoun("he", "him", "his", person=True)
SHE = Pronoun("she", "her", "her", person=True)
IT = Pronoun("it", "it", "its", person=False)
THEY = Pronoun("they", "them", "their", person=False)
#: a person whose passage gives no gendered word
SOMEONE = Pronoun("that person", "that person", "that person's", person=True)


def display_name(title: str) -> str:
    """A Wikipedia title as a question names it: entities unescaped, the disambiguation dropped
    ("Mark King (musician)" → "Mark King")."""
    return _DISAMBIGUATION.sub("", html.unescape(title)).strip()


def english_pronoun(name: str, sentences: list[str]) -> Pronoun:
    """The pronoun for the entity a passage (its sentences) is about. A person when the opening
    gives life dates or calls it a person ("is an American actor"), or the second sentence starts
    with He/She; then he or she by the passage's first gendered word, pronoun or noun ("the first
    wife of …"), and "that person" when there is none. Else they when the passage opens with the
    name and a plural verb ("The Exies were an American rock band"), and it for everything else."""
    text = "".join(sentences)
    opening = text[:300]
    second = sentences[1].split()[:1] if len(sentences) > 1 else []
    if _LIFE_DATES.search(opening) or _PERSON_NOUN.search(opening) or second in (["He"], ["She"]):
        gendered = _GENDERED.search(text)
        if gendered is None:
            return SOMEONE
        return HE if gendered.group(1) else SHE
    verb = _COPULA.search(sentences[0])
    starts = sentences[0].strip().removeprefix("The ").startswith(name.removeprefix("The "))
    return THEY if starts and verb and verb.group(1) in ("are", "were") else IT


def english_definition(name: str, opening: str, pronoun: Pronoun) -> str:
    """The standalone question about the entity itself, in the tense of its passage's opening
    sentence: "Who was Jagdish Mali?", "What is Senet?", "What are The Exies?"."""
    verb = _COPULA.search(opening)
    tense = verb.group(1) if verb else "is"
    if pronoun is THEY:
        tense = "were" if tense in ("was", "were") else "are"
    elif tense in ("are", "were"):
        tense = "was" if tense == "were" else "is"
    return f"{'Who' if pronoun.person else 'What'} {tense} {name}?"


def mention_pattern(name: str) -> re.Pattern[str]:
    """The name as a whole phrase, with the quotes a question may put around it, and an
    English possessive after it ("Grace Krilanovich's", "Homer's Odyssey" alone)."""
    return re.compile(
        rf"(?P<quote>\"|“)?(?<![\w-]){re.escape(name)}(?![\w-])(?(quote)[\"”])(?P<s>['’]s?(?!\w))?"
    )


def mentions(question: str, name: str) -> list[tuple[int, int]]:
    return [match.span() for match in mention_pattern(name).finditer(question)]


def refer_back(question: str, name: str, pronoun: Pronoun, *, spans: list[tuple[int, int]]) -> str | None:
    """`question` with the mentions of `name` at `spans` replaced by `pronoun`, in the case each
    position asks for (`_pronoun_at`); None when a mention stands where a pronoun cannot
    ("The film Darkon follows…", "photographer Jagdish Mali, known for…").

    An article before the name goes with it ("the Clinton Foundation" → "it")."""
    pattern = mention_pattern(name)
    pieces, last = [], 0
    for start, end in spans:
        match = pattern.match(question, start)
        assert match is not None and match.end() == end, "spans come from mentions()"
        cut, words = start, question[last:start].split()
        if words and words[-1].lower() in _ARTICLES and question[last:start].endswith(" "):
            cut = question.rfind(words[-1], last, start)
        form = _pronoun_at(question[:cut], pronoun, match)
        if form is None:
            return None
        pieces += [question[last:cut], form]
        last = end
    pieces.append(question[last:])
    return "".join(pieces)


def refer_to_pair(question: str, pair: tuple[int, int]) -> str | None:
    """`question` with the span `pair` ("X and Y") replaced by they/them, or None where the pair
    is not a clause's subject or object the rule can see: after an auxiliary ("Are X and Y both…")
    or a preposition. "how is X and Y connected" becomes "how are they connected"."""
    before, after = question[: pair[0]], question[pair[1] :]
    words = before.split()
    if words and words[-1].lower() in _PREPOSITIONS:
        return f"{before}{THEY.object}{after}"
    if not words:
        return f"{THEY.subject.capitalize()}{after}"
    auxiliary = _AUXILIARIES.search(before)
    if auxiliary is None:
        return None
    word = auxiliary.group(0).strip()
    plural = _PLURAL_VERBS.get(word.lower())
    if plural is not None:
        before = before[: auxiliary.start()] + (plural.capitalize() if word[0].isupper() else plural) + " "
    return f"{before}{THEY.subject}{after}"


def _pronoun_at(before: str, pronoun: Pronoun, mention: re.Match[str]) -> str | None:
    """Possessive before 's; capitalised subject at the start; object after a preposition or a
    verb ending in -ed/-ing; subject after a conjunction, a wh-word, an auxiliary or a comma;
    None after anything else (a noun the name stands beside)."""
    words = before.split()
    previous = words[-1].lower() if words else ""
    if mention.group("s"):
        form = pronoun.possessive
    elif previous in _PREPOSITIONS or (len(previous) > 3 and previous.endswith(("ed", "ing"))):
        form = pronoun.object
    elif not previous or previous[-1] in ",;.?!" or previous in _SUBJECT_AFTER:
        form = pronoun.subject
    else:
        return None
    at_start = not before.strip() or before.rstrip()[-1] in ".?!"
    return form.capitalize() if at_start else form


# ------------------------------------------------------------------------------------------ Chinese
def chinese_pronoun(name: str, text: str) -> str:
    """他 or 她 for a person, 它 for anything else. A person's passage opens (the name aside, which
    may hold a role: 明圣王后) with a life span, "男，"/"女，", where they are from, a courtesy name
    or a role ("法国政治家"); she when the opening says 女 (not 子女, 女儿) or the passage says 她
    more often than 他 (not 其他, 他们)."""
    opening = text[:120].replace(name, "")
    first_words = _ZH_BRACKETS.sub("", opening)[:40]
    if not (_ZH_PERSON.search(opening) or _ZH_ROLE.search(first_words)):
        return "它"
    feminine = len(re.findall(r"她(?!们)", text)) > len(re.findall(r"(?<!其)他(?!们)", text))
    return "她" if feminine or re.search(r"(?<!子)女(?!儿)", opening) else "他"


def chinese_names(name: str) -> list[str]:
    """The ways a question may name a Chinese passage's subject, longest first: the whole name,
    its ·-separated parts (the surname of a transliterated name: 佩内塔 for 弗拉维娅·佩内塔), and
    for a name of Han characters its prefixes and suffixes of at least half its length (椭球坐标
    for 椭球坐标系, 古监狱 for 巴黎古监狱); shorter pieces ("日本" of 日本国铁211系电力动车组)
    name something else."""
    pieces = {name}
    if _HAN_NAME.fullmatch(name):
        pieces.update(part for part in name.split("·") if len(part) >= 2)
        least = max(2, (len(name) + 1) // 2)
        pieces.update(name[:n] for n in range(least, len(name)))
        pieces.update(name[-n:] for n in range(least, len(name)))
    whole = [p for p in pieces if p[0] not in _ZH_EDGES and p[-1] not in _ZH_EDGES]
    return sorted(whole, key=lambda piece: (-len(piece), piece))


def chinese_pair(name: str, questions: list[str]) -> tuple[int, int, str] | None:
    """Two questions that name the subject by the same way of `chinese_names` (the longest two
    share), each on its own (`_stands_alone`), and the mention the second one uses (its longest
    way), which the follow-up replaces; None when no two questions do."""
    names = chinese_names(name)
    for piece in names:
        naming = [i for i, question in enumerate(questions) if _stands_alone(questions[i], piece)]
        for second in naming[1:]:
            mention = next(n for n in names if n in questions[second])
            if _stands_alone(questions[second], mention):
                return naming[0], second, mention
    return None


def chinese_refer_back(question: str, mention: str, pronoun: str) -> str:
    """Every mention (with its 《》 if it has them) replaced by the pronoun: Chinese pronouns have
    no case, and 它的/他的 read as naturally as the name's 的."""
    return question.replace(f"《{mention}》", pronoun).replace(mention, pronoun)


def _stands_alone(question: str, mention: str) -> bool:
    """Whether every occurrence of `mention` in `question` is a word of its own, not part of a
    longer name: the word beside it on either side (jieba's) is no noun of jieba's dictionary nor
    a Han word it does not know ("什么是标准杆数" does not name 标准杆; "世界裸体自行车游行组织"
    is not 裸体自行车游行组织), and no "·" or Latin letter joins them. It errs on the side of
    leaving a pair out: "李晨毕业于" is refused, as jieba tags 毕业 a noun."""
    if mention not in question:
        return False
    jieba, tags = load_jieba(), jieba_word_tags()
    start = question.find(mention)
    while start >= 0:
        end = start + len(mention)
        if question[end : end + 1] == "》" and question[start - 1 : start] == "《":
            start, end = start - 1, end + 1
        before = list(jieba.cut(question[:start]))[-1:] or [""]
        after = next(iter(jieba.cut(question[end:])), "")
        for word, edge in ((before[0], question[start]), (after, question[end - 1])):
            if _joins(word, edge, tags):
                return False
        start = question.find(mention, end)
    return True


def _joins(word: str, edge: str, tags: Mapping[str, str]) -> bool:
    if not word:
        return False
    if word[0] in "·‧" or word[-1] in "·‧" or (edge.isascii() and edge.isalnum() and word.isascii()):
        return word.strip() != ""
    if not HAN_UNIFIED_CHAR.match(word):
        return False
    tag = tags.get(word)
    return tag is None or tag.startswith("n")
