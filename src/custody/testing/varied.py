"""A crawl site whose pages hold varied text, for benchmarks of what reads the text.

crawl_site's pages repeat a few seed paragraphs, a few hundred distinct words in all;
the archives people make hold far more. Here each page is in one of eight languages
(four scripts), of a length drawn from a log-normal (about 500 words as the median, a
few thousand at most), its words drawn from a vocabulary of 40,000 per language by
Zipf's law, with the seed texts' real words mixed in, numbers, capitals and sentences:
about 300,000 distinct words over 3,000 pages. Generated from a seed, so the same
every time.
"""

from __future__ import annotations

import html
import random
from pathlib import Path

from .site import Page, crawl_site, seed_sections

_LETTERS = {
    "en": "etaoinshrdlcumwfgypbvkjxqz", "fr": "esaitnrulodcmpévqfbghjàèxyêzçôùâûîœëïk",
    "de": "enisratdhulcgmobwfkzvpüäößjyxq", "es": "eaosrnidlctumpbgvyqhfzjñáéíóúxkw",
    "ru": "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё", "fa": "اینرمدوهتسبلکشزفگجخقحصطعغپچضظثژذآئ",
    "pl": "aioeznrwcstkydpmuljłbgęhąóżśćfńź", "tr": "aeinrlıkdmyutsbozüşgçhğvcöpfj",
}
_VOCABULARY = 40_000  # words per language


def _vocabulary(rng: random.Random, letters: str) -> list[str]:
    weights = [1 / (i + 1) ** 0.7 for i in range(len(letters))]  # common letters first
    words: set[str] = set()
    while len(words) < _VOCABULARY:
        length = max(2, min(14, int(rng.gauss(6, 2.5))))
        words.add("".join(rng.choices(letters, weights, k=length)))
    return sorted(words, key=lambda _: rng.random())


def varied_texts(seeds: Path, pages: int, seed: int = 26) -> list[tuple[str, str]]:
    """A title and a text (paragraphs a line each) for each of ``pages`` pages."""
    rng = random.Random(seed)
    sections = seed_sections(seeds)
    real = {lang: " ".join(sections[lang][1]).split() for lang in ("en", "fa", "ru")}
    vocabularies = {lang: _vocabulary(rng, letters) for lang, letters in _LETTERS.items()}
    out = []
    for _ in range(pages):
        lang = rng.choice(list(_LETTERS))
        vocabulary = vocabularies[lang]
        count = int(min(8000, max(60, rng.lognormvariate(6.2, 0.8))))
        # rank r with probability about 1/r: Zipf's law, as words in text go
        words = [vocabulary[int(len(vocabulary) ** rng.random()) - 1] for _ in range(count)]
        for k in range(0, count, 7) if lang in real else ():
            words[k] = rng.choice(real[lang])
        sentences: list[str] = []
        sentence: list[str] = []
        for word in words:
            sentence.append(word if sentence else word.capitalize())
            if rng.random() < 0.02:
                sentence.append(str(rng.randint(1, 3000)))
            if rng.random() < 0.08:
                sentences.append(" ".join(sentence) + ".")
                sentence = []
        sentences.append(" ".join(sentence) + ".")
        title = " ".join(rng.choice(vocabulary[:2000]) for _ in range(rng.randint(2, 8)))
        paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
        out.append((title.capitalize(), "\n".join(paragraphs)))
    return out


def varied_site(seeds: Path, pages: int, *, image_bytes: int = 0) -> dict[str, Page]:
    """crawl_site's site (index, links, stylesheet, images), its pages' text varied."""
    site = crawl_site(seeds, pages, image_bytes=image_bytes)
    for i, (title, text) in enumerate(varied_texts(seeds, pages)):
        nxt = "".join(f'<a href="/section/p{j}.html">next {j}</a>' for j in range(i + 1, i + 4)
                      if j < pages)
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n"))
        body = (f"<html><head><title>{html.escape(title)}</title><link rel=\"stylesheet\" "
                f"href=\"/static/crawl.css\"></head><body><nav>{nxt}</nav><article><h1>"
                f"{html.escape(title)}</h1>{paragraphs}<img src=\"/img/{i}.png\"></article>"
                "</body></html>")
        site[f"/section/p{i}.html"] = Page(body.encode(), "text/html; charset=utf-8")
    return site
