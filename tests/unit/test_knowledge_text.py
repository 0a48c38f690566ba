"""Normalisation, glossary rewriting and segmentation: what both queries and entries go through."""

from __future__ import annotations

import pytest

from knowledge import segment
from knowledge.analyse import Analyser
from knowledge.glossary import Glossary, default_glossary
from knowledge.normalise import cjk_share, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＯＡ密码", "oa密码"),  # full-width letters
        ("ＯＡ　密码？", "oa 密码"),  # full-width space and question mark
        ("OA密碼忘記了，要怎麼自己重設？", "oa密码忘记了 要怎么自己重设"),  # Traditional
        ("辦公電腦為什麼不能用隨身碟", "办公电脑为什么不能用随身碟"),
        ("U-Key PIN", "u key pin"),  # case folded, hyphen splits
        ("“忘记密码”怎么用？", "忘记密码 怎么用"),
        ("版本 2.5，８:30 开会", "版本 2.5 8.30 开会"),  # a decimal point stays inside a number
        ("what's   my\tpassword", "whats my password"),  # apostrophe joins, spaces collapse
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_is_idempotent() -> None:
    text = "領導讓我給ＵＳＢ-Key設個新PIN！"
    assert normalise(normalise(text)) == normalise(text)


def test_cjk_share() -> None:
    assert cjk_share("密码") == 1.0
    assert cjk_share("password") == 0.0
    assert cjk_share("") == 0.0


def test_glossary_rewrites_variants_to_the_canonical_form() -> None:
    glossary = default_glossary()
    assert glossary.apply(normalise("U盾PIN码锁定")) == "ukey pin锁定"
    assert glossary.apply(normalise("报账要带发票吗")) == "报销要带发票吗"
    assert glossary.apply(normalise("OA password忘了")) == "oa 密码忘记"
    assert glossary.canonical("Log in") == "登录"


def test_glossary_matches_english_whole_words_with_inflections() -> None:
    glossary = Glossary.from_rows([["预订", "book"], ["附件", "attachment"]])
    assert glossary.apply("booking a room") == "预订 a room"
    assert glossary.apply("two attachments") == "two 附件"
    assert glossary.apply("facebook") == "facebook"  # not inside another word


def test_glossary_longest_match_wins_and_later_groups_override() -> None:
    base = Glossary.from_rows([["请假", "leave"], ["年假", "annual leave"]])
    assert base.apply("annual leave left") == "年假 left"
    trainer = Glossary.from_rows([["休假", "leave"]])
    assert base.extended(trainer).apply("leave") == "休假"


def test_glossary_ignores_single_chinese_characters() -> None:
    glossary = Glossary.from_rows([["查看", "看"]])  # "看" would rewrite 看病, 好看, ...
    assert glossary.apply("好看") == "好看"


def test_glossary_from_csv_skips_comments() -> None:
    glossary = Glossary.from_csv("# a comment\n报销,报账,reimburse\n")
    assert glossary.groups == (("报销", "报账", "reimburse"),)


def test_user_dictionary_keeps_office_terms_whole() -> None:
    words = segment.words(normalise("青政通里公文签发以后怎么用印"))
    for term in ("青政通", "公文", "签发", "用印"):
        assert term in words


def test_segmenter_starts_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    segment.words("初始化")
    assert capfd.readouterr().err == ""


def test_pinyin_bigrams_meet_homophone_typos() -> None:
    assert segment.pinyin_bigrams("报消") == segment.pinyin_bigrams("报销")
    assert segment.pinyin_bigrams("规档") == segment.pinyin_bigrams("归档")
    assert segment.char_bigrams("报销单") == ["报销", "销单"]


def test_background_idf_rates_topical_words_above_fillers() -> None:
    assert segment.background_idf("挂失") > segment.background_idf("一下")


def test_analysis_drops_stop_words_and_prefixes_token_families() -> None:
    analysis = Analyser(default_glossary()).analyse("请问OA密码怎么重置？")
    assert analysis.words == ("oa", "密码", "重置")
    assert "w:密码" in analysis.tokens
    assert "c:密码" in analysis.tokens
    assert "p:mi ma" in analysis.tokens
    assert not any(token.endswith("怎么") for token in analysis.tokens)


def test_analysis_of_english_uses_glossary_and_trigrams() -> None:
    analysis = Analyser(default_glossary()).analyse("I forgot my passwords")
    assert "w:密码" in analysis.tokens  # plural, then the glossary
    assert "w:忘记" in analysis.tokens
    assert "t:#fo" not in analysis.tokens  # a glossary term is Chinese now: no trigrams


def test_salient_units_split_words_only_jiebas_hmm_joined() -> None:
    analyser = Analyser(default_glossary())
    assert analyser.units("导吗") == ("导",)  # HMM-joined: the stop word goes
    assert analyser.units("我用") == ("用",)
    assert analyser.units("视频会议") == ("视频会议",)  # a dictionary word stays whole
    assert analyser.units("锁") == ("锁",)
    assert analyser.units("ukey") == ("ukey",)
    assert analyser.units("2026") == ()  # a number is no salient content
