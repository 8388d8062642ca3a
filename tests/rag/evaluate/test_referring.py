"""The rules that turn a question naming an entity into a follow-up that refers back to it."""

from __future__ import annotations

import pytest

from rag.evaluate.referring import (
    HE,
    IT,
    SHE,
    SOMEONE,
    THEY,
    Pronoun,
    chinese_pair,
    chinese_pronoun,
    chinese_refer_back,
    display_name,
    english_definition,
    english_pronoun,
    mentions,
    refer_back,
    refer_to_pair,
)

pytestmark = pytest.mark.fast


def _refer(question: str, name: str, pronoun: Pronoun = IT) -> str | None:
    return refer_back(question, name, pronoun, spans=mentions(question, name))


def test_a_title_is_named_without_its_disambiguation_or_html_entities() -> None:
    assert display_name("Mark King (musician)") == "Mark King"
    assert display_name("Simon &amp; Simon") == "Simon & Simon"
    assert display_name("Leland, North Carolina") == "Leland, North Carolina"


@pytest.mark.parametrize(
    ("name", "sentences", "expected"),
    [
        (
            "Grace Krilanovich",
            ["Grace Krilanovich (born 1979) is an American author.", " She lives in LA."],
            SHE,
        ),
        ("Tostig Godwinson", ["Tostig Godwinson ( 1026 – 25 September 1066) was the brother of Harold."], HE),
        (
            "Jon L. Luther",
            ["Jon L. Luther is an American foodservice executive.", " He was the chairman."],
            HE,
        ),
        (
            "Audrey Williams",
            ["Audrey Williams (1923 – 1975) was the first wife of Hank.", " His songs…"],
            SHE,
        ),
        ("Scott Howell", ["Scott Howell is an American political consultant."], SOMEONE),
        ("The Exies", ["The Exies were an American rock band from Los Angeles."], THEY),
        ("Israeli presidential election, 2000", ["Elections for the President were held in 2000."], IT),
        ("Senet", ["Senet is a board game from ancient Egypt."], IT),
        ("Vicious Lies", ["Vicious Lies is the second solo album by American rapper Big Boi."], IT),
    ],
)
def test_the_pronoun_comes_from_the_passage(name: str, sentences: list[str], expected: object) -> None:
    """Life dates, a role or a second sentence opening with He/She make a person, whose first
    gendered word gives the pronoun ("that person" without one)."""
    assert english_pronoun(name, sentences) is expected


def test_the_standalone_question_about_an_entity_keeps_its_passage_tense() -> None:
    assert english_definition("Jagdish Mali", "Jagdish Mali (1954 – 2013) was a photographer.", HE) == (
        "Who was Jagdish Mali?"
    )
    assert english_definition("The Exies", "The Exies were an American band.", THEY) == "What were The Exies?"
    assert english_definition("Senet", "Senet is a board game.", IT) == "What is Senet?"


def test_the_pronoun_takes_the_case_its_place_asks_for() -> None:
    assert _refer("Drew Fuller stared in a series on what station?", "Drew Fuller", HE) == (
        "He stared in a series on what station?"
    )
    assert _refer("Grace Krilanovich's first novel was published where?", "Grace Krilanovich", SHE) == (
        "Her first novel was published where?"
    )
    assert _refer("What was translated during the era of Haymo of Faversham?", "Haymo of Faversham", HE) == (
        "What was translated during the era of him?"
    )
    assert (
        _refer("Who was Audrey Williams pregnant with?", "Audrey Williams", SHE)
        == "Who was she pregnant with?"
    )


def test_an_article_goes_with_the_name_and_quotes_around_it_too() -> None:
    assert _refer(
        "The Women's National Basketball League includes what?", "Women's National Basketball League"
    ) == ("It includes what?")
    assert (
        _refer('"Wonderland by Night" is a song by whom?', "Wonderland by Night") == "It is a song by whom?"
    )


def test_a_name_beside_a_noun_is_left_alone() -> None:
    """ "The film Darkon follows…" would become "The film it follows…": no follow-up."""
    assert _refer("The film Darkon follows which club?", "Darkon") is None
    assert _refer("Indian film photographer Jagdish Mali is father to whom?", "Jagdish Mali", HE) is None


def test_a_name_inside_a_longer_word_is_no_mention() -> None:
    assert mentions("Who founded Darkon-Con in Darkon?", "Darkon") == [(26, 32)]


def test_a_pair_becomes_they_after_an_auxiliary_and_them_after_a_preposition() -> None:
    question = "Are Christopher Nolan and Sathish Kalathil both film directors?"
    assert refer_to_pair(question, (4, 42)) == "Are they both film directors?"
    question = "how is Tampa Bay and Lee Roy Selmon connected?"
    assert refer_to_pair(question, (7, 35)) == "how are they connected?"
    question = "Between Iain Banks and Irwin Shaw, which writer had a more diverse career?"
    assert refer_to_pair(question, (8, 33)) == "Between them, which writer had a more diverse career?"
    assert refer_to_pair("Both Never Cry Wolf and Big Hero 6 films were released by whom?", (5, 34)) is None


def test_a_chinese_person_gets_he_or_she_and_anything_else_it() -> None:
    assert chinese_pronoun("罗保铭", "罗保铭，天津人。男，汉族。1969年5月参加工作。") == "他"
    assert (
        chinese_pronoun("杨丽音", "杨丽音（），台湾电影、电视与舞台剧女演员，在王伟忠挖角下成为班底。")
        == "她"
    )
    assert (
        chinese_pronoun("软枝黄蝉", "软枝黄蝉（学名：'），为夹竹桃科黄蝉属植物，原生于巴西。其他地区也有。")
        == "它"
    )


def test_two_chinese_questions_naming_the_subject_make_a_pair() -> None:
    questions = ["佩内塔获得过几次冠军？", "佩内塔什么时候跻身世界排名前十？"]
    assert chinese_pair("弗拉维娅·佩内塔", questions) == (0, 1, "佩内塔")
    pair = chinese_pair("芙蓉洞", ["芙蓉洞位于什么地方？", "全长多少？", "芙蓉洞什么时候开放？"])
    assert pair is not None
    first, second, mention = pair
    assert (first, second) == (0, 2)
    assert chinese_refer_back("《芙蓉洞》什么时候开放？", mention, "它") == "它什么时候开放？"


def test_a_chinese_name_inside_a_longer_name_is_no_mention() -> None:
    """标准杆数 is not 标准杆, and a short piece of a long title names something else."""
    assert chinese_pair("标准杆", ["什么是标准杆？", "什么是标准杆数？"]) is None
    assert chinese_pair("日本国铁211系电力动车组", ["日本何时制作电车？", "日本有多少电车？"]) is None
