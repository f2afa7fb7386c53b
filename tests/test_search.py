"""Search in every language the archive holds: folding, word forms, phrases, filters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from conftest import Custody
from custody.index import textindex
from custody.testing.site import Page, SiteServer


def page(title: str, body: str, lang: str) -> Page:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    html = (f'<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>")
    return Page(html.encode(), "text/html; charset=utf-8")


PAGES = {
    # written with Arabic yeh and kaf, harakat, tatweel and Arabic-Indic digits
    "/ar-letters.html": page("گزارش", "كشتار معترضان در ايران ادامه دارد و شمار قربانيان به "
                             "١٢ هزار رسيد. مَردم ايـــران خواستار عدالت هستند و سازمان ملل "
                             "بايد اقدام كند.", "fa"),
    "/fa.html": page("بیانیه", "ما همبستگی کامل خود را با مردم ایران اعلام می‌کنیم. دسترسی به "
                     "اینترنت قطع شده است و ارتباطات تلفن همراه مسدود شده‌اند.", "fa"),
    "/ru.html": page("Заявление", "Мы требуем от властей Ирана прекратить кровопролитие. "
                     "Ещё раз призываем мировое сообщество: в Иране нужна помощь, "
                     "правозащитники ждут ответа.", "ru"),
    "/en.html": page("Statement", "Reports of massacres in Iran continue. The information "
                     "blockade must end, and observers must be allowed into the country.",
                     "en"),
    "/en-other.html": page("Weather", "Sunny with light winds over the coast. Observers of the "
                           "weather expect rain by the weekend in most of the country.", "en"),
    "/ar.html": page("بيان", "نفت الوزارة احتجاز المتظاهرين قرب الجسر يوم الثلاثاء، وقال "
                     "شهود إن قوات الأمن أطلقت النار على الحشد واعتقلت الصحفيين. وطالبت "
                     "منظمات حقوق الإنسان بتحقيق مستقل في الأحداث.", "ar"),
    "/fr.html": page("Communiqué", "Les manifestants ont été arrêtés près du pont mardi "
                     "soir. Des témoins affirment que les forces de sécurité ont tiré sur la "
                     "foule, et les organisations demandent une enquête indépendante.", "fr"),
    "/zh.html": page("声明", "我们要求立即停止对抗议者的暴力镇压，恢复互联网连接，"
                     "并释放所有政治犯。国际社会必须采取行动。", "zh"),
}


@pytest.fixture(scope="module")
def search_site() -> Iterator[SiteServer]:
    with SiteServer(PAGES) as server:
        yield server


@pytest.fixture
def archive(custody: Custody, search_site: SiteServer) -> Custody:
    custody.archive(*(search_site.url + p for p in PAGES), extra=("--no-requisites",))
    return custody


def hits(runner: Custody, *words: str) -> list[str]:
    result = runner.ok("search", "--json", *words)
    return [h["url"].rsplit("/", 1)[1] for h in json.loads(result.stdout)]


def test_folding_rules() -> None:
    assert textindex.fold("كشتار") == textindex.fold("کشتار")
    assert textindex.fold("ايران") == textindex.fold("ایران")
    assert textindex.fold("أحمد") == textindex.fold("احمد")
    assert textindex.fold("مدرسة") == textindex.fold("مدرسه")
    assert textindex.fold("ايـــران") == textindex.fold("ایران")
    assert textindex.fold("مَردم") == textindex.fold("مردم")
    assert textindex.fold("می‌کنیم") == textindex.fold("میکنیم")
    assert textindex.fold("١٢ ۱۲") == "12 12"
    assert textindex.fold("Ещё") == textindex.fold("еще")
    assert textindex.fold("ＦＵＬＬ") == "full"


# words of every script and form index_text meets, with the characters folding changes
MIXED_TEXT = ("Massacres observers BLOCKADE running Straße İstanbul ǅemal ﬁnance ＦＵＬＬ "
              "snake_case Ирана Ещё ёлка правозащитники كشتار ايـــران مَردم "
              "می‌کنیم مدرسة أحمد إيران آب ٱلله "
              "١٢ ۱۲ 2025 中国人民 日本語のテキスト abc中def 한국어 ᦎᦱᦺ 𞤢𞤣𞤤 हिन्दी")
MIXED = MIXED_TEXT.split(" ")


def test_folding_replaces_what_its_table_says_in_any_text() -> None:
    import random
    import unicodedata

    rng = random.Random(26)
    alphabet = [*map(chr, textindex._FOLD), "a", "Z", " ", "\u064b", "ß", "İ", "中", "١"]
    for _ in range(2000):
        text = "".join(rng.choices(alphabet + MIXED, k=rng.randint(0, 12)))
        by_table = unicodedata.normalize("NFKC", text).casefold().translate(textindex._FOLD)
        assert textindex.fold(text) == textindex._HARAKAT.sub("", by_table), repr(text)


def test_index_text_is_each_word_stemmed_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rng = random.Random(26)
    monkeypatch.setattr(textindex, "_STEMS_HELD", 30)  # its tables of stems start again often
    for _ in range(1000):
        text = " ".join(rng.choices(MIXED, k=rng.randint(0, 30)))
        language = rng.choice([None, "en", "fa", "ar", "ru", "sr-Latn", "tr", "de", "zh", "xx"])
        expected = " ".join(textindex.stem(w, language) for w in textindex.words(text))
        assert textindex.index_text(text, language) == expected, (text, language)


def test_words_are_the_runs_of_alphanumerics_whatever_separates_them() -> None:
    import random

    rng = random.Random(26)
    # the separators split at before the scan, others (underscore, marks, symbols, white
    # space of every kind) that only the scan finds, and letters and digits of any script
    alphabet = [*textindex._SEPARATORS, "_", "\u0301", "\u064b", "+", "\u00a0", "\u2028",
                "\t", " ", "\u3000", "a", "Z", "7", "\u00b2", "\u0661", "\u4e2d", "\u0436",
                "\u06cc", "\u1a0e", *MIXED]
    for _ in range(3000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        assert textindex._split(text) == textindex._WORD.findall(text), repr(text)


def test_arabic_keyboard_finds_persian_text_and_back(archive: Custody) -> None:
    assert "fa.html" in hits(archive, "ايران")  # typed with Arabic yeh
    assert "ar-letters.html" in hits(archive, "کشتار")  # typed with Persian keheh
    assert "ar-letters.html" in hits(archive, "۱۲")  # Persian digits find Arabic-Indic ones
    assert "ar-letters.html" in hits(archive, "12")
    assert "ar-letters.html" in hits(archive, "مردم")  # the text has harakat
    assert "fa.html" in hits(archive, "میکنیم")  # the text has a ZWNJ


def test_word_forms(archive: Custody) -> None:
    assert hits(archive, "Иран")[:2] and set(hits(archive, "Иран")) >= {"ru.html"}
    assert "ru.html" in hits(archive, "Ирана")
    assert "ru.html" in hits(archive, "еще")  # ё
    assert "en.html" in hits(archive, "massacre")
    assert "en.html" in hits(archive, "Massacres")


def test_phrases_operators_and_prefix(archive: Custody) -> None:
    assert hits(archive, '"information blockade"') == ["en.html"]
    assert hits(archive, '"blockade information"') == []
    both = hits(archive, "observers")
    assert set(both) == {"en.html", "en-other.html"}
    assert hits(archive, "observers", "AND", "massacre") == ["en.html"]
    assert hits(archive, "observers", "NOT", "massacre") == ["en-other.html"]
    assert set(hits(archive, "massacre", "OR", "weather")) == {"en.html", "en-other.html"}
    assert "en.html" in hits(archive, "blockad*")
    assert "ru.html" in hits(archive, "правозащ*")


def test_a_phrase_is_found_in_the_language_its_page_is_written_in(archive: Custody) -> None:
    """A phrase's words are stemmed as its page's language stems them, whichever that is
    of those that share a script: Arabic beside Persian, French beside English."""
    rows = {r["url"].rsplit("/", 1)[1]: r["language"]
            for r in archive.query("select url, language from documents")}
    assert rows["ar.html"] == "ar" and rows["fr.html"] == "fr"
    assert hits(archive, '"قرب الجسر"') == ["ar.html"]
    assert hits(archive, '"احتجاز المتظاهرين"') == ["ar.html"]
    assert hits(archive, '"les manifestants"') == ["fr.html"]
    assert hits(archive, '"forces de sécurité"') == ["fr.html"]
    assert hits(archive, '"الجسر قرب"') == []


def test_an_arabic_word_finds_its_other_forms(archive: Custody) -> None:
    """Arabic is stemmed with the letters its stemmer's suffixes are spelled with (yeh
    and kaf as Arabic writes them), whichever a text or a query was typed with."""
    for typed in ("المتظاهر", "متظاهر", "الصحفي", "الصحفی", "صحفي"):
        assert hits(archive, typed) == ["ar.html"], typed
    assert textindex.index_words("المتظاهرين الصحفيين", "ar") == \
        textindex.index_words("المتظاهر الصحفي", "ar")


def test_an_index_made_before_schema_7_is_verified_searched_and_brought_up(
        custody: Custody, search_site: SiteServer) -> None:
    """Arabic documents indexed as custody.db's schema 6 stemmed them: verify holds the
    index to those rules and passes, search finds them, and the next command that writes
    stems them again, once."""
    custody.archive(search_site.url + "/ar.html", search_site.url + "/fa.html",
                    extra=("--no-requisites",))
    old = textindex.ARABIC_BEFORE_7
    with sqlite3.connect(custody.root / "custody.db") as conn:
        for doc_id, title, text, lang in conn.execute(
                "SELECT id, title, text, language FROM documents").fetchall():
            if lang != "ar":
                continue
            conn.execute("INSERT INTO search_index (search_index, rowid, title, body) VALUES "
                         "('delete', ?, ?, ?)", [doc_id, textindex.index_text(title, "ar"),
                                                 textindex.index_text(text, "ar")])
            conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
                         [doc_id, textindex.index_text(title, old),
                          textindex.index_text(text, old)])
        conn.execute("PRAGMA user_version = 6")
    assert textindex.index_text("المتظاهرين", old) != textindex.index_text("المتظاهرين", "ar")
    assert custody.verify()[0] == 0
    assert hits(custody, "المتظاهرين") == ["ar.html"]
    custody.archive(search_site.url + "/en.html", extra=("--no-requisites",))  # writes
    with sqlite3.connect(custody.root / "custody.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    assert custody.verify()[0] == 0
    assert hits(custody, "المتظاهر") == ["ar.html"] and hits(custody, "بیانیه") == ["fa.html"]


def test_chinese_substrings(archive: Custody) -> None:
    assert hits(archive, "互联网") == ["zh.html"]
    assert hits(archive, "政治犯") == ["zh.html"]
    assert hits(archive, "国际") == ["zh.html"]


def test_filters(archive: Custody, search_site: SiteServer) -> None:
    assert set(hits(archive, "ایران", "--lang", "fa")) == {"fa.html", "ar-letters.html"}
    assert hits(archive, "ایران", "--lang", "ru") == []
    assert hits(archive, "massacre", "--site", "127.0.0.1") == ["en.html"]
    assert hits(archive, "massacre", "--site", "example.org") == []
    assert hits(archive, "massacre", "--since", "2000-01-01") == ["en.html"]
    assert hits(archive, "massacre", "--until", "2000-01-01") == []
    (capture,) = archive.query("select id from captures")
    assert hits(archive, "massacre", "--capture", capture["id"]) == ["en.html"]
    assert archive("search", "massacre", "--capture", "nope").exit_code == 8  # no such


def test_languages_are_detected(archive: Custody) -> None:
    rows = {r["url"].rsplit("/", 1)[1]: r["language"]
            for r in archive.query("select url, language from documents")}
    assert rows["fa.html"] == "fa" and rows["ru.html"] == "ru" and rows["en.html"] == "en"
    assert rows["zh.html"] == "zh"


def test_snippets_show_the_original_words(archive: Custody) -> None:
    (hit,) = json.loads(archive.ok("search", "--json", "massacre").stdout)
    assert "[massacres]" in hit["snippet"]
    (hit,) = json.loads(archive.ok("search", "--json", "--lang", "fa", "مردم").stdout)[:1]
    assert "[" in hit["snippet"] and "]" in hit["snippet"]


@pytest.mark.parametrize("query", ["NOT", "NOT massacre", "(", "(massacre", "massacre)", '"',
                                   '"information blockade', "AND OR", "*", "massacre AND",
                                   "() massacre", "massacre OR NOT blockade", "?!"])
def test_bad_queries_are_one_line_and_exit_2(archive: Custody, query: str) -> None:
    result = archive("search", "--json", query)
    assert result.exit_code == 2, (query, result.output)
    (line,) = [x for x in result.output.splitlines() if x.startswith("custody: error")]
    assert "Traceback" not in result.output and query.strip() in line


def test_prefixes_find_the_words_they_begin(archive: Custody) -> None:
    for prefix in ("blockad*", "blockade*", "massacre*", "massacres*", "observ*", "observers*"):
        assert hits(archive, prefix), prefix


@pytest.mark.parametrize("option, value", [("--since", "yesterday"), ("--since", "2026-13-45"),
                                           ("--until", "21/11/2026"), ("--since", "2026-02-30")])
def test_bad_dates_are_refused(archive: Custody, option: str, value: str) -> None:
    result = archive("search", option, value, "massacre")
    assert result.exit_code == 2 and "is not a date" in result.output


@pytest.mark.parametrize("code", ["xx", "persian", "arz", "en-US"])
def test_unknown_languages_are_refused(archive: Custody, code: str) -> None:
    result = archive("search", "--lang", code, "massacre")
    assert result.exit_code == 2 and "ISO 639-1" in result.output


def test_persian_words_are_found_spaced_joined_or_with_a_joiner(tmp_path) -> None:
    """Persian writes a word's parts apart, joined, or with a zero-width non-joiner: a
    search finds the page whichever way the page and the query wrote them, where the
    query spaces the parts, or where a part is a verbal prefix or a plural suffix."""
    from custody.index.db import connect, index_documents
    from custody.index.search import search

    zwnj = "\u200c"
    written = {
        "joiner": f"قانون بین{zwnj}المللی اجرا می{zwnj}شود و کتاب{zwnj}ها چاپ شد.",
        "joined": "قانون بینالمللی اجرا میشود و کتابها چاپ شد.",
        "spaced": "قانون بین المللی اجرا می شود و کتاب ها چاپ شد.",
    }
    path = tmp_path / "custody.db"
    db = connect(path)
    db.table("captures").insert({"id": "c1", "sequence": 1})
    db.table("documents").insert_all(
        {"capture_id": "c1", "url": f"http://example.org/{name}", "title": "قانون",
         "text": text, "language": "fa"} for name, text in written.items())
    index_documents(db, "SELECT id, title, text, language FROM documents")
    db.conn.commit()

    def found(query: str) -> set[str]:
        return {hit["url"].rsplit("/", 1)[1] for hit in search(db.conn, query)}

    every = set(written)
    for query in ("می شود", "میشود", f"می{zwnj}شود", "کتاب ها", "کتابها", f"کتاب{zwnj}ها",
                  "بین المللی"):
        assert found(query) == every, query
    # joined, a compound of two words is found joined (the index cannot tell its parts)
    assert found("بینالمللی") == found(f"بین{zwnj}المللی") == {"joiner", "joined"}
    # a phrase too, each of its words spaced, joined or with its joiner (one at a time)
    for phrase in ('"اجرا می شود"', '"اجرا میشود"', f'"اجرا می{zwnj}شود"', '"قانون بین المللی"',
                   "بین-المللی"):
        assert found(phrase) == every, phrase
    db.conn.close()
