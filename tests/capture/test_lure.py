"""Lure facts: language, themes, sectors, excerpt. Inputs are hand-written strings, no shared data."""

from __future__ import annotations

import time
import tomllib
from importlib import resources

import pytest

from aptcatch.capture import lure, lure_lang, lure_sectors, lure_themes
from aptcatch.capture.context import ItemState, LureText
from aptcatch.capture.limits import Limits
from aptcatch.model.scan import Lure


def state(
    *texts: tuple[str, str],
    subject: str | None = None,
    sender: str | None = None,
    recipients: tuple[str, ...] = (),
) -> ItemState:
    st = ItemState(limits=Limits())
    st.texts = [LureText(kind, text, "0") for kind, text in texts]
    st.email_subject = subject
    st.email_sender = sender
    st.email_recipients = list(recipients)
    return st


def themes_of(result: Lure) -> list[str]:
    return [t.theme for t in result.themes]


WUHAN_SUBJECT = "关于填报武汉旅行信息表的通知 Notice on filling in the Wuhan travel information form"
WUHAN_BODY = (
    "各位同事：\n根据市卫生健康委员会的统一部署，为做好新型冠状病毒感染的肺炎疫情防控工作，"
    "请近期去过武汉或与武汉来人有密切接触的同事，于今天下班前填写附件中的旅行信息表，"
    "并发送至办公室邮箱。如出现发热、咳嗽等症状，请及时就诊并主动报告。\n办公室 2020年1月23日"
)

# A plain technical text: the kind of long benign document that must not pick up every theme.
TECH_PARAGRAPH = (
    "The compiler front end parses each source file into an abstract syntax tree, resolves names "
    "against the symbol table and lowers the tree into an intermediate representation. The optimiser "
    "then runs constant folding, dead code elimination and loop invariant code motion before the "
    "register allocator assigns physical registers. Benchmarks on the reference machine show that the "
    "new scheduling heuristic reduces the number of pipeline stalls in tight loops, while the cache "
    "simulator confirms a lower miss rate for the matrix kernels. Build the project with the release "
    "profile, run the test suite, and compare the generated assembly listings with the previous "
    "version. Documentation for the configuration options is kept in the user guide. "
)


def test_wuhan_bilingual_lure_to_hospital() -> None:
    st = state(
        ("email_subject", WUHAN_SUBJECT),
        ("email_body", WUHAN_BODY),
        subject=WUHAN_SUBJECT,
        sender="office@wjw-notice.example",
        recipients=("zhangwei@cityhospital.example",),
    )
    res = lure.analyze(st)
    assert res.language == "zh"
    assert set(res.languages) == {"zh", "en"}
    assert res.languages["zh"] > res.languages["en"]
    assert res.themes[0].theme == "health"
    assert {"武汉", "疫情"} <= set(res.themes[0].terms)
    assert "government_notice" in themes_of(res)
    assert res.sectors[0] == "healthcare"
    reasons = res.sector_reasons["healthcare"]
    assert any(r.startswith("recipient domain cityhospital.example") for r in reasons)
    assert any(r.startswith("theme health") for r in reasons)
    assert res.subject == WUHAN_SUBJECT
    assert res.recipients == ("zhangwei@cityhospital.example",)
    assert res.excerpt.startswith("关于填报武汉旅行信息表的通知")
    assert "各位同事" in res.excerpt and len(res.excerpt) <= lure.EXCERPT_CHARS
    assert res.text_chars == len(WUHAN_SUBJECT) + len(WUHAN_BODY)


def test_english_defence_procurement_to_mil_pk() -> None:
    body = (
        "Dear Sir,\nPlease find attached the revised schedule for the defence procurement of coastal "
        "surveillance radars and spares for the Navy. All bidders are requested to submit the technical "
        "compliance statement before the pre-bid meeting at Naval Headquarters. The tender documents "
        "and the list of approved vendors are in the attachment.\nRegards,\nDirectorate of Procurement"
    )
    res = lure.analyze(
        state(
            ("email_body", body),
            ("document", "Ministry of Defence - Directorate General Defence Purchase - Tender Notice"),
            subject="Revised schedule: defence procurement of coastal radars",
            sender="dgdp-notice@mod-gov.example",
            recipients=("procurement.officer@paknavy.mil.pk",),
        )
    )
    assert res.language == "en"
    assert res.themes[0].theme == "defense"
    assert "defence procurement" in res.themes[0].terms
    assert res.sectors[0] == "defense"
    assert "government" in res.sectors
    assert any("paknavy.mil.pk" in r and ".mil.pk" in r for r in res.sector_reasons["defense"])


def test_russian_invoice() -> None:
    body = (
        "Добрый день!\nНаправляем вам счёт на оплату за поставку оборудования по договору. "
        "Просим произвести оплату до конца недели. Банковские реквизиты указаны в приложении.\n"
        "С уважением, бухгалтерия"
    )
    res = lure.analyze(
        state(
            ("email_body", body),
            subject="Счёт на оплату № 2317 от 14.03.2024",
            recipients=("buh@zavod.example",),
        )
    )
    assert res.language == "ru"
    assert res.languages == {"ru": 1.0}
    assert res.themes[0].theme == "finance"
    assert "счет на оплату" in res.themes[0].terms
    assert "finance" in res.sectors


def test_korean_unification_ministry_lure() -> None:
    subject = "[통일부] 2024년 북한이탈주민 정착지원 정책 자문회의 개최 안내"
    body = (
        "안녕하십니까. 통일부 정착지원과입니다. 북한이탈주민 정착지원 정책에 관한 자문회의를 아래와 같이 "
        "개최하오니 참석 여부를 회신하여 주시기 바랍니다. 회의 자료는 첨부 문서를 확인해 주십시오."
    )
    res = lure.analyze(
        state(
            ("email_body", body),
            subject=subject,
            sender="unikorea.policy@gmail.com",
            recipients=("researcher@institute.example.ac.kr",),
        )
    )
    assert res.language == "ko"
    assert res.themes[0].theme == "korean_peninsula"
    assert {"통일부", "북한"} & set(res.themes[0].terms)
    assert "government" in res.sectors
    assert "education" in res.sectors  # the .ac.kr recipient
    assert not any("gmail.com" in r for rs in res.sector_reasons.values() for r in rs)


def test_benign_long_technical_text_has_no_strong_theme() -> None:
    res = lure.analyze(state(("document", TECH_PARAGRAPH * 25)))
    assert res.language == "en"
    assert all(t.score < 0.5 for t in res.themes), res.themes
    assert res.sectors == ()


def test_empty_text() -> None:
    res = lure.analyze(state())
    assert res.language is None
    assert res.languages == {}
    assert res.themes == ()
    assert res.sectors == ()
    assert res.excerpt == ""
    assert res.text_chars == 0
    assert lure.empty() == Lure(language=None)
    only_numbers = lure.analyze(state(("document", "12345 67 -- 2024/01/02 !!!")))
    assert only_numbers.language is None


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("关于做好新型冠状病毒感染的肺炎疫情防控工作的通知", "zh"),
        ("通知", "zh"),
        ("Please review the attached invoice and confirm the payment date.", "en"),
        ("Просим срочно ознакомиться с приказом министерства", "ru"),
        ("북한 관련 정책 자문 요청드립니다", "ko"),
        ("وزارة الخارجية تدعوكم لحضور المؤتمر السنوي", "ar"),
        ("وزارت دفاع پاکستان کی جانب سے اہم اطلاع", "ur"),
        ("دعوت‌نامه همایش وزارت امور خارجه جمهوری اسلامی", "fa"),
        ("Thông báo tuyển dụng cán bộ Bộ Ngoại giao năm nay", "vi"),
        ("会議のお知らせ：新型コロナ対策について", "ja"),
        ("Invitation à la réunion du comité de pilotage de l'ambassade", "fr"),
    ],
)
def test_language_short_strings(text: str, lang: str) -> None:
    assert lure_lang.detect([text])[0] == lang


def test_language_ignores_urls_ids_and_stray_latin() -> None:
    text = "请于本周五前登录 https://portal.example.com/login?id=8842 填写表格，文件编号 A3F9B2C4D5。"
    language, dist = lure_lang.detect([text])
    assert language == "zh"
    assert dist == {"zh": 1.0}


def test_themes_cover_required_set_and_sectors_are_known() -> None:
    lex = lure_themes.lexicon()
    required = {
        "health", "government_notice", "defense", "diplomacy", "nuclear", "energy", "finance", "recruitment",
        "logistics", "education", "elections_politics", "telecom", "cryptocurrency", "legal", "aviation",
        "maritime", "religious_minority", "korean_peninsula", "it_security",
    }  # fmt: skip
    assert required <= set(lex.themes)
    vocab = lure_sectors.rules().vocabulary
    for theme in lex.themes.values():
        assert set(theme.sectors) <= set(vocab), theme
    raw = tomllib.loads(
        resources.files("aptcatch.capture").joinpath("data", "lexicon.toml").read_text(encoding="utf-8")
    )
    for tid, spec in raw["themes"].items():
        assert {"en", "zh"} <= set(spec["terms"]), tid


@pytest.mark.parametrize(
    ("subject", "body", "theme"),
    [
        (
            "Job offer: Senior Engineer",
            "We are pleased to send the offer letter and salary details.",
            "recruitment",
        ),
        ("大使馆签证通知", "请持护照到大使馆领取签证。", "diplomacy"),
        (
            "DHL: delivery failed",
            "Your parcel could not be delivered. Tracking number in the attachment.",
            "logistics",
        ),
        (
            "Call for Papers",
            "The university invites abstract submission for the annual conference.",
            "education",
        ),
        (
            "Urgent: password reset",
            "Your mailbox password expires today. Verify your account now.",
            "it_security",
        ),
        (
            "Uyghur diaspora meeting",
            "Human rights groups will discuss Xinjiang and Tibet.",
            "religious_minority",
        ),
        ("IAEA inspection report", "The reactor and uranium enrichment figures are attached.", "nuclear"),
        ("Bitcoin wallet", "Send the seed phrase to recover the cryptocurrency wallet.", "cryptocurrency"),
    ],
)
def test_theme_examples(subject: str, body: str, theme: str) -> None:
    res = lure.analyze(state(("email_body", body), subject=subject))
    assert res.themes and res.themes[0].theme == theme, res.themes


def test_subject_hits_count_more_than_body_hits() -> None:
    subject_hit = lure_themes.score(["Invoice"], ["Please see the attachment."])
    body_hit = lure_themes.score(["Hello"], ["Please see the attached invoice."])
    assert subject_hit and subject_hit[0].theme == "finance"
    assert not body_hit or body_hit[0].score < subject_hit[0].score


def test_repetition_is_damped_and_length_normalised() -> None:
    once = lure_themes.score([], ["covid vaccine quarantine"])[0].score
    many = lure_themes.score([], ["covid vaccine quarantine " * 50])[0].score
    diluted = lure_themes.score([], ["covid vaccine quarantine. " + TECH_PARAGRAPH * 30])
    assert many < 1.0 and many - once < 0.5
    assert not diluted or diluted[0].score < once


@pytest.mark.parametrize(
    ("domain", "sector"),
    [
        ("moh.gov.pk", "government"),
        ("nhc.gov.cn", "healthcare"),
        ("bjyiyuan.example.cn", "healthcare"),
        ("x.nhs.uk", "healthcare"),
        ("mail.mofa.go.kr", "diplomacy"),
        ("pu.edu.pk", "education"),
        ("cs.tsinghua.edu.cn", "education"),
        ("ox.ac.uk", "education"),
        ("army.mil", "defense"),
        ("state-bank.example", "finance"),
        ("nuclear-power.example", "nuclear"),
        ("gouv.fr", "government"),
        ("pakistan-embassy.example", "diplomacy"),
    ],
)
def test_domain_hints(domain: str, sector: str) -> None:
    assert sector in lure_sectors.domain_sectors(domain)


def test_free_mail_domains_say_nothing() -> None:
    assert lure_sectors.domain_sectors("163.com") == {}
    assert lure_sectors.domain_sectors("mail.ru") == {}


def test_theme_alone_needs_a_minimal_score() -> None:
    weak = lure.analyze(
        state(("document", "The hospital car park is closed on Sunday. " + TECH_PARAGRAPH * 3))
    )
    assert "healthcare" not in weak.sectors


def test_metadata_company_names_suggest_sectors() -> None:
    res = lure.analyze(
        state(
            ("document", "Quarterly report draft."),
            ("metadata", "company: Eastern Grid Power Company\nauthor: li"),
        )
    )
    assert "energy" in res.sectors
    assert any("metadata" in r for r in res.sector_reasons["energy"])


def test_speed_on_20kb() -> None:
    lure_lang.detect(["warm up the language model"])
    lure_themes.lexicon()
    texts = {
        "en": (TECH_PARAGRAPH * 40)[:20_000],
        "zh": (WUHAN_BODY * 200)[:20_000],
    }
    for text in texts.values():
        st = state(("document", text), subject="Notice")
        best = min(_timed(st) for _ in range(5))
        assert best < 0.025  # generous for loaded CI machines; typically 2-4 ms


def _timed(st: ItemState) -> float:
    start = time.perf_counter()
    lure.analyze(st)
    return time.perf_counter() - start
