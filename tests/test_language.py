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
