"""Signals added for LAION-style rows: shop listings, drawn children, stock photos, shirt
numbers, news ages after a position, and child words the audit sample found missing."""

from __future__ import annotations

import pyarrow as pa

from childguard.detect import signals
from childguard.detect.textnorm import prepare


def _signals(texts: list[str], urls: list[str | None] | None = None):
    t = prepare(
        pa.table(
            {
                "row_index": pa.array(range(len(texts)), pa.int64()),
                "url": pa.array(urls or [None] * len(texts), pa.string()),
                "text": texts,
            }
        )
    )
    return signals.compute(t)


def test_shirt_numbers_are_not_ages() -> None:
    s = _signals(
        [
            "Tampa Bay Buccaneers quarterback Tom Brady (12) works out during training camp",
            "Giants catcher Fernando Pujadas (12) during an instructional league game",
            "Lucas (6) on his first day at school",
        ]
    )
    assert s["shirt_number"].to_list() == [True, True, False]
    assert s["paren_age"].to_list() == [False, False, True]
    # the rules' child age ignores a shirt number, keeps a child's
    assert signals.child_age(s).to_list() == [False, False, True]


def test_news_age_after_a_position_or_before_of() -> None:
    s = _signals(
        [
            "Kat Johnson (right), 10, of Morrisville, portrays Mary in a living nativity",
            "Sara Staley, 11 of Stamford, at a softball clinic",
            "John Smith (left), 45, of Boston, and his son",  # detail signals: candidates only
        ]
    )
    assert s["paren_age"].to_list() == [True, True, False]
    assert s["adult_paren"].to_list() == [False, False, True]
    assert s["candidate"].to_list()[:2] == [True, True]


def test_shop_clipart_and_stock_classes() -> None:
    s = _signals(
        [
            "Boho baby shower invitation girl printable",
            "Clipart of a happy stick boy and girl couple",
            "Portrait of little asian girl in witch costume - stock photo",
            "Little girl playing in the park",
        ]
    )
    assert s["neg_product"].to_list() == [True, False, True, False]  # invitation; costume
    assert s["neg_doll"].to_list() == [True, True, False, False]  # baby shower, clipart
    assert s["stock"].to_list() == [False, False, True, False]
    # a drawn child is no child for the rules
    assert signals.minor_subject(s).to_list()[1] is False
    assert signals.minor_subject(s).to_list()[3] is True


def test_child_words_the_audit_found_missing() -> None:
    s = _signals(["teenage soccer players on a field", "second graders on a field trip"])
    assert s["candidate"].to_list() == [True, True]


def test_stock_photo_hosts_without_stock_words() -> None:
    s = _signals(
        [
            "Happy 5 year old boy in long shorts walks along a wall – zdjęcie",
            "Hispanic father and son piggyback in the garden",
            "Happy 5 year old boy in long shorts walks along a wall",
            "Lucas, 5, on his first day at school",
        ],
        [
            "https://media.istockphoto.com/photos/happy-5-year-old-boy-picture-id123",
            "https://us.123rf.com/450wm/user/user1507/user150700085.jpg",
            "https://cdn.example-blog.com/2019/05/boy-wall.jpg",
            # a news agency's host is no stock library: its captions name real children
            "https://media.gettyimages.com/photos/lucas-first-day.jpg",
        ],
    )
    assert s["candidate"].to_list() == [True, True, True, True]
    assert s["stock"].to_list() == [True, True, False, False]


def test_ordinary_words_read_as_youth_teams_or_ages() -> None:
    """"under" is an age group only before an age; a thousands separator or a weight is no
    age after a name; "for the first time" is no baby's first."""
    s = _signals(
        [
            "Under Balboa Pier at Newport Beach CA",
            "a young girl reading a book under a tree",
            "Our under-11s won the cup",
            "Categoría 2013 del Club Atlético, campeones del torneo",
            "7.85-inch Capacitive Touch Screen, 1,024 x 768P IPS",
            "née le 21/06/2021 à la maternité de Montclavel, 3,150 kg",
            "Emma Stone, 10, plays in the park",
            "はじめてのお客さまへ",
            "はじめて歩いた日",
        ]
    )
    assert s["youth_sport"].to_list()[:2] == [False, False]
    assert s["youth"].to_list()[:4] == [False, False, True, True]
    assert s["paren_age"].to_list()[4:7] == [False, False, True]
    # the birth announcement stays a candidate by its birth words
    assert s["candidate"].to_list() == [False, True, True, True, False, True, True, False, True]


def test_words_common_in_another_sense_are_no_reason_alone() -> None:
    """`not_alone` terms ("turned", Indonesian "RS", NATO) make no candidate by themselves,
    and still count beside other evidence; French "ne ... pas" is no "né" (born)."""
    s = _signals(
        [
            "The old mill turned into a hotel",
            "Emma turned 5 today!",
            "Porto Alegre RS, Brasil",
            "NATO summit in Brussels",
            "Le ministre ne profite pas du voyage",
            "Notre fils Léo est né le 3 mai",
            "me and my bro jack",
            "me and my bro jack, 5 years old",
        ]
    )
    assert s["candidate"].to_list() == [False, True, False, False, False, True, False, True]
    assert s["birth"].to_list()[4:6] == [False, True]
    # a weak word still counts on a row the screen passes by something else (the age): "bro"
    # is the only kinship word there
    assert s["relation"].to_list()[6:] == [False, True]
