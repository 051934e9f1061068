"""Feature tokens of the scorer: class n-grams carry a pattern across languages, conjunctions
say "a name and a child word", and a URL's CDN structure is no feature."""

from __future__ import annotations

import polars as pl

from childguard.scorer.train import featurise


def _tokens(url: str, text: str) -> set[str]:
    (f,) = featurise(pl.DataFrame({"url": [url], "text": [text]}))
    assert f is not None, "the screen should pass this row"
    return set(f)


def test_kinship_then_name_is_one_class_gram_in_any_language() -> None:
    en = _tokens("https://x.example/a.jpg", "Maria reads to her son Lucas in Leeds")
    pt = _tokens("https://x.example/b.jpg", "Maria lê para seu filho Lucas em Campinas")
    de = _tokens("https://x.example/c.jpg", "Maria liest ihrem Sohn Lukas in Köln vor")
    for toks in (en, pt, de):
        assert "k:relation_<name>" in toks, sorted(t for t in toks if t.startswith("k:"))
    # the words themselves differ; the class gram is what carries across
    assert "t:son" in en and "t:son" not in pt


def test_conjunction_of_a_name_and_a_child_word() -> None:
    named = _tokens("https://x.example/a.jpg", "Lucas, a little boy, plays in the park")
    unnamed = _tokens("https://x.example/b.jpg", "a little boy plays in the park")
    assert "x:child&name" in named
    assert not any(t.startswith("x:") and "name" in t for t in unnamed)


def test_url_structure_is_no_feature_but_slug_words_are() -> None:
    toks = _tokens(
        "https://cdn.example.com/wp-content/uploads/2023/11/aniversario-lucas-5-anos-1024x768.jpg",
        "Festa de aniversário",
    )
    url = {t for t in toks if t.startswith(("u:", "ku:"))}
    assert {"u:aniversario", "u:<name>", "u:<age>"} <= url
    # upload year, size suffix and path words say where a row was scraped, not what it shows
    assert not any("<year>" in t or "uploads" in t or "content" in t for t in url), sorted(url)


def test_caption_language_and_child_words_of_another_language() -> None:
    # "chico" is a Spanish child word; in an English caption it is the dog's name
    en = _tokens("https://x.example/a.jpg", "Chico the little dog is at the park with my wife")
    assert "l:en" in en and "s:lexlang_other" in en
    # the same word in a Spanish caption is a child word of the caption's language
    es = _tokens("https://x.example/b.jpg", "El chico juega en el parque con su madre")
    assert "l:es" in es and "s:lexlang_other" not in es
    pt = _tokens("https://x.example/c.jpg", "Meu filho Pedro na escola da cidade")
    assert "l:pt" in pt and "s:lexlang_other" not in pt
    # too few stopwords to tell: no language token, no mismatch
    short = _tokens("https://x.example/d.jpg", "chico")
    assert not any(t.startswith("l:") for t in short) and "s:lexlang_other" not in short


def test_child_word_only_in_a_url_slug_of_another_language() -> None:
    toks = _tokens(
        "https://x.example/blog/0-ay-bebek-bakimi.jpg", "The best tips for the new baby in the house"
    )
    assert "l:en" in toks
    # "baby" is an English child word: the caption's own language, so no caption mismatch
    assert "s:lexlang_other" not in toks
    # Turkish "ay" (month) and "bebek" in the slug of an English caption are flagged as such
    assert "s:urllang_other" in toks
    plain = _tokens("https://x.example/blog/new-baby-tips.jpg", "The best tips for the new baby")
    assert "s:urllang_other" not in plain


def test_what_made_a_word_a_name_is_a_feature() -> None:
    def anchors(url: str, text: str) -> set[str]:
        return {t for t in _tokens(url, text) if t.startswith("d:names@")}

    # kinship words of any language stand for their class, never for the word
    assert anchors("https://x.example/a.jpg", "Maria reads to her son Lucas in Leeds") == {
        "d:names@relation"
    }
    assert anchors("https://x.example/b.jpg", "Maria lê para seu filho Lucas em Campinas") == {
        "d:names@relation"
    }
    assert anchors("https://x.example/c.jpg", "Lena (8) und ihr Bruder Max beim Spielen") == {
        "d:names@agename"
    }
    assert anchors("https://x.example/d.jpg", "Feliz cumpleaños Valentina, 7 añitos") == {
        "d:names@bday"
    }
    # a kinship phrase stands for its class too ("my oldest" is kinship, not "<unit> <of>")
    assert anchors("https://x.example/f.jpg", "happy fifth birthday to my oldest elijah!") == {
        "d:names@relation"
    }
    # no name found: no anchor token
    assert anchors("https://x.example/e.jpg", "a little boy plays in the park") == set()


def test_a_named_parent_of_a_child_is_a_feature() -> None:
    # a third-person possessive before a kinship word, in any language, with a name
    for text in ("Tracy Wolfson with her sons on her car", "Maria lê para seu filho na praia"):
        toks = _tokens("https://x.example/p.jpg", text)
        assert {"s:parent_of", "x:name&parent"} <= toks, text
    # a pet is no kin; "my son" is the writer's, not a named parent's
    assert "s:parent_of" not in _tokens("https://x.example/q.jpg", "A boy and his dog")
    assert "s:parent_of" not in _tokens("https://x.example/r.jpg", "My son Lucas at the beach")


def test_a_child_word_read_as_another_languages_stopword_is_a_false_friend() -> None:
    # French "son" is "his": with three other French stopwords it is no kinship word
    fr = _tokens("https://x.example/a.jpg", "La cote de confiance du ministre ne profite pas de son voyage à la mer")
    assert "s:false_friend" in fr
    # an English caption with a Spanish surname keeps its son
    assert "s:false_friend" not in _tokens("https://x.example/b.jpg", "my son Pedro de la Cruz")
    # a real child word beside the false friend keeps the row
    assert "s:false_friend" not in _tokens(
        "https://x.example/c.jpg", "Son fils joue dans le parc avec les enfants de la ville"
    )


def test_a_school_team_is_a_sport_word_beside_a_school_or_boys_girls_word() -> None:
    toks = _tokens("https://x.example/l.jpg", "Stevenson vs New Trier boys lacrosse action from Tuesday")
    assert {"s:team_sport", "x:child&team"} <= toks
    toks = _tokens("https://x.example/h.jpg", "High school roundup: B. P. nets two goals in field hockey")
    assert {"s:team_sport", "x:school&team"} <= toks
    # a professional with his son after a football game: a sport, no school team
    toks = _tokens("https://x.example/t.jpg", "Tampa Bay quarterback T. B. (12) hugs his son after the football game")
    assert "s:team_sport" in toks
    assert "x:school&team" not in toks and "x:child&team" not in toks
