"""The language of a text (extract/language.py): which script a text is mostly written in
decides whether lingua is asked at all."""

from __future__ import annotations

from custody.extract.language import detect_language

ENGLISH = "The statement was signed by human rights defenders and civic activists. "
BURMESE = "မြန်မာနိုင်ငံ၏ လူ့အခွင့်အရေး ကာကွယ်သူများ "


def test_a_text_mostly_in_a_script_no_candidate_uses_is_not_named() -> None:
    assert detect_language(ENGLISH * 3) == "en"
    assert detect_language(BURMESE * 10 + ENGLISH) is None


def test_scripts_with_as_many_letters_go_by_the_first_one_met() -> None:
    def words(text: str) -> str:  # 1,000 of the text's letters, in words of six
        letters = "".join(filter(str.isalpha, text * 100))[:1000]
        return " ".join(letters[i:i + 6] for i in range(0, 1000, 6))

    latin, burmese = words(ENGLISH), words(BURMESE)
    assert detect_language(latin + " " + burmese, minimum=1) is not None
    assert detect_language(burmese + " " + latin, minimum=1) is None


def test_models_read_ahead_are_those_of_the_script_s_candidates() -> None:
    from lingua import Language

    from custody.extract.language import _MODELS_BY_SCRIPT, CANDIDATES

    for script, of in (("LATIN", Language.all_with_latin_script),
                       ("CYRILLIC", Language.all_with_cyrillic_script),
                       ("ARABIC", Language.all_with_arabic_script)):
        assert sorted(_MODELS_BY_SCRIPT[script]) == sorted(
            code for code in CANDIDATES
            if code in {lang.iso_code_639_1.name.lower() for lang in of()})


def test_reading_the_models_ahead_changes_no_answer() -> None:
    from conftest import SEEDS
    from custody.extract import language
    from custody.testing.site import seed_sections

    texts = [" ".join(paragraphs) for _, paragraphs in seed_sections(SEEDS).values()]
    texts += [ENGLISH * 3, "Die Erklärung wurde von Menschenrechtsverteidigern unterzeichnet."]
    detector = language._detector()
    detector.unload_language_models()  # each read as lingua weighs its language
    language._loaded.clear()
    lazily = [detector.detect_language_of(text[:5000]) for text in texts]
    detector.unload_language_models()
    language._loaded.clear()
    for script in ("LATIN", "CYRILLIC", "ARABIC"):
        language.load_models(script)
    assert [detector.detect_language_of(text[:5000]) for text in texts] == lazily
