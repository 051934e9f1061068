"""Table-driven tests per detector and language: positives, negatives and edge cases
(diacritics, upper case, names that are ordinary words)."""

from __future__ import annotations

import pytest

# (detector, text, url, fires, lang)
CASES: list[tuple[str, str, str | None, bool, str]] = [
    # child_terms -------------------------------------------------------------------------
    ("child_terms", "Criança brincando no quintal", None, True, "pt"),
    ("child_terms", "CRIANÇA BRINCANDO NO QUINTAL", None, True, "pt"),
    ("child_terms", "crianca brincando no quintal", None, True, "pt"),
    ("child_terms", "Toddler eating watermelon", None, True, "en"),
    ("child_terms", "Niños jugando en la nieve", None, True, "es"),
    ("child_terms", "Bébé qui rit aux éclats", None, True, "fr"),
    ("child_terms", "Das Kind mit dem roten Ball", None, True, "de"),
    ("child_terms", "Bambini al mare", None, True, "it"),
    ("child_terms", "Peuter op de schommel", None, True, "nl"),
    ("child_terms", "Dzieci w ogrodzie", None, True, "pl"),
    ("child_terms", "Bahçede oynayan çocuklar", None, True, "tr"),
    ("child_terms", "Balita bermain pasir", None, True, "id"),
    ("child_terms", "Малыш на прогулке", None, True, "ru"),
    ("child_terms", "雪で遊ぶ子どもたち", None, True, "ja"),
    ("child_terms", "Schoolgirls walking home", None, True, "en"),
    ("child_terms", "Mon bébé Caramel, 2 ans aujourd'hui 🐶", None, False, "fr"),
    ("child_terms", "Cachorro filhote para adoção", None, False, "pt"),
    ("child_terms", "Poupée bébé en tissu", None, False, "fr"),
    ("child_terms", "Jesuskind aus Holz, handbemalt", None, False, "de"),
    ("child_terms", "Día del Niño: ofertas en juguetes", None, False, "es"),
    ("child_terms", "Ladies night: the girls from the office", None, False, "en"),
    ("child_terms", "Robe fille à fleurs, taille 6 ans", None, False, "fr"),
    ("child_terms", "Some kind of magic at the lake", None, False, "en"),
    ("child_terms", "Scenic overlook in Đồ Sơn", None, False, "und"),
    # ages ------------------------------------------------------------------------------
    ("ages", "Meu sobrinho de 4 anos adora dinossauros", None, True, "pt"),
    ("ages", "a 10-year-old on her bike", None, True, "en"),
    ("ages", "Mi hija de 18 meses ya camina", None, True, "es"),
    ("ages", "Il a 3 ans et demi", None, True, "fr"),
    ("ages", "Unsere Tochter ist 6 Jahre alt", None, True, "de"),
    ("ages", "Synek ma 2 latka", None, True, "pl"),
    ("ages", "Oğlum 5 yaşında oldu", None, True, "tr"),
    ("ages", "Anak saya umur 7 tahun", None, True, "id"),
    ("ages", "Сыну 9 лет", None, True, "ru"),
    ("ages", "息子は5歳になりました", None, True, "ja"),
    ("ages", "Fernseher mit 5 Jahren Garantie", None, False, "de"),
    ("ages", "Tênis infantil tam 3 anos", None, False, "pt"),
    ("ages", "Carlos, 45 anos, professor", None, False, "pt"),
    ("ages", "Loja Estrela comemora 10 anos", None, False, "pt"),
    ("ages", "Vesteralen (8)", None, False, "und"),
    ("ages", "North 4th Ring Road", None, False, "en"),
    # institutions (1.0 = named school / class / team) ------------------------------------
    ("institutions", "Turma do 2º ano B na Escola Estadual Machado", None, True, "pt"),
    ("institutions", "Kinder der Klasse 3a beim Ausflug", None, True, "de"),
    ("institutions", "Pupils of Brookfield Primary on a trip", None, True, "en"),
    ("institutions", "U12 Mädchen beim Turnier", None, True, "de"),
    ("institutions", "Uczniowie Szkoły Podstawowej nr 5", None, True, "pl"),
    ("institutions", "3年2組の合唱", None, True, "ja"),
    ("institutions", "mon fils refuse d'aller à l'école le matin", None, False, "fr"),
    ("institutions", "Sunset over the lake", None, False, "en"),
    # birth_details ---------------------------------------------------------------------
    ("birth_details", "Nasceu o Pedro! 03/05/2023 às 10h15, 3,2 kg, 50 cm", None, True, "pt"),
    ("birth_details", "Geboren am 1.2.2023 um 04:10 Uhr, 3.210 g", None, True, "de"),
    ("birth_details", "Welcome baby! Born at 2:30 pm, 8 lb 1 oz", None, True, "en"),
    ("birth_details", "Saco de arroz 5 kg tipo 1", None, False, "pt"),
    # handles -----------------------------------------------------------------------------
    ("handles", "Sigam a @pequena.chef.bia (7 anos) 🍰", None, True, "pt"),
    ("handles", "@minik.yuzucu.ece yeni rekor", None, True, "tr"),
    ("handles", "Follow @citybakery for bread", None, False, "en"),
    # dates (on rows about a minor) -------------------------------------------------------
    ("dates", "Festa de 3 anos, 14 de março de 2020", None, True, "pt"),
    ("dates", "Kindergeburtstag am 02.06.2019, 6 Jahre", None, True, "de"),
    ("dates", "Festa de 3 anos", None, False, "pt"),
    # names -------------------------------------------------------------------------------
    ("names", "Nosso filho Lucas no parquinho", None, True, "pt"),
    ("names", "and her daughter Ava at the fair", None, True, "en"),
    ("names", "Mi hijo Mateo en su primer partido", None, True, "es"),
    ("names", "Unser Sohn Jonas beim Schwimmen", None, True, "de"),
    ("names", "Onze dochter Fenna op de fiets", None, True, "nl"),
    ("names", "Kızım Elif okulda", None, True, "tr"),
    ("names", "Наш сын Егор на катке", None, True, "ru"),
    ("names", "娘の陽葵ちゃんと公園へ", None, True, "ja"),
    ("names", "Bolo", "https://x.com.br/2019/aniversario-3-anos-gabriel.jpg", True, "pt"),
    # a duration or a prison term is no age; an age beside one still is
    ("ages", "Gonzalo T., el enólogo de una bodega que en apenas 7 años produce un millón de litros", None, False, "es"),
    ("ages", "Суд: Окруашвили ждут 11 лет тюрьмы", None, False, "ru"),
    ("ages", "Il y a 3 ans, ma fille Léa avait 2 ans", None, True, "fr"),
    ("ages", "Police are concerned for 13-year-old Leah, last seen in Gorton", None, True, "en"),
    ("ages", "С днём рождения, наша Алёнушка! Нам уже 4 годика", None, True, "ru"),
    ("ages", "Com apenas 5 anos, Lucas venceu o campeonato de xadrez", None, True, "pt"),
    ("ages", "Luca ha 5 anni e gioca a calcio", None, True, "it"),
    # a name that is also a verb, before its object: "drew this" (Drew before "at" stays)
    ("names", "my granddaughter drew this for me", None, False, "en"),
    ("names", "my son Drew at his first game", None, True, "en"),
    # the infant Jesus negates a figurine, not a named child's age in a nativity play
    ("names", "Kat Johnson, 10, of Morrisville, portrays Mary holding baby Jesus in a nativity", None, True, "en"),
    ("ages", "Kat Johnson, 10, of Morrisville, portrays Mary holding baby Jesus in a nativity", None, True, "en"),
    ("child_terms", "Handcarved baby Jesus figure for the nativity set", None, False, "en"),
    ("child_terms", "Tullis Explorer Scouts Summer Camp in the Mendips", None, True, "en"),
    ("names", "Premiers pas", "https://blog.fr/img/premiers-pas-timeo.jpg", True, "fr"),
    (
        "names",
        "Na foto: Beatriz, Miguel e Sofia pintando",
        "https://creche.com.br/a.jpg",
        True,
        "pt",
    ),
    # ordinary words that are names: need a kinship word right before or an age after
    ("names", "Minha filha Rosa, 5 anos", None, True, "pt"),
    ("names", "sa fille Rose, 6 ans", None, True, "fr"),
    ("names", "Vestido Infantil Rosa Tule Tam 4 anos", None, False, "pt"),
    ("names", "Sol e praia com as crianças", None, False, "pt"),
    ("names", "Niños bajo la Luz del atardecer", None, False, "es"),
    ("names", "Kids party in May with balloons", None, False, "en"),
    ("names", "Baby sleeping on a blanket", None, False, "en"),
    ("names", "Criança celebra a Vitória do time", None, False, "pt"),
    # adults and pets never make a child's name
    ("names", "Maria Fernanda, 35 anos, empresária", None, False, "pt"),
    ("names", "Meet Baby, a 2-year-old beagle", None, False, "en"),
    ("names", "Filho do fundador, Carlos Souza assume a empresa", None, False, "pt"),
    ("names", "Rudy Rigot (3)", None, False, "und"),
    # an adult's title, job or a photo credit before the name; a child's age keeps the child
    ("names", "Homeschool author Catherine Jaime teaches children about art", None, False, "en"),
    ("names", "Jongen eet hamburger bij Burger King. Foto: David Rozing", None, False, "nl"),
    ("names", "Rotterdam 20090321Foto: David Rozing. Jongen eet een hamburger", None, False, "nl"),
    ("names", "Onkel Christian übernimmt die Brauerei von seinem Neffen Colin", None, False, "de"),
    ("names", "Staatsanwältin Simone Flammang über den Schutz der Kinder", None, False, "de"),
    ("names", "Coach Mike Smith and his son Ben (8) at the game", None, True, "en"),
    ("names", "Our little chef Emma baking cookies", None, True, "en"),
    # a month and a day are a date, not a name and an age; "1st Class" after a rank is no class
    ("names", "Kids at the science fair on June 15, 2017 in Leeds", None, False, "en"),
    ("names", "my daughter june 5 today", None, True, "en"),
    ("child_terms", "Photo by Airman 1st Class Donald Knechtel at the base", None, False, "en"),
    # stock libraries never name their child models; a common word after kinship is no name
    ("names", "Father and Son Piggyback in a field", "https://us.123rf.com/450wm/x/42847542-father-and-son.jpg", False, "en"),
    ("names", "Father and Son Together in a field", None, False, "en"),
    # an ordinal is no age of the word before it; a URL date's month is no age
    ("names", "Happy 2nd birthday, kids!", None, False, "en"),
    ("names", "Mother with her sons", "https://x.example/wp-content/uploads/2019/11/Tracy-Wolfson-with-her-sons.jpg", False, "en"),
    (
        "names",
        "Bambina che gioca al parco",
        "https://s.com/bambina-che-gioca-al-parco.jpg",
        False,
        "it",
    ),
    ("names", "Mała dziewczynka bawi się w parku", None, False, "pl"),
    ("names", "Fachada da Escola Coronel Ambrósio Teixeira", None, False, "pt"),
    # a plural lexicon word is no name's possessive ("Juniors" is not Junior's)
    ("names", "Canadians cheer on Team Canada at the World Juniors", None, False, "en"),
    # a listed group of capitalised words needs a known name among them (German nouns)
    ("names", "Kinder in der Kita: Vorbeugung, Symptome und Behandlungen", None, False, "de"),
    ("names", "Die Kinder der Igelgruppe: Mia, Jonte und Fiete", None, True, "de"),
    # an artist's credit closing the caption is an adult's name; a child's drawing keeps hers
    ("names", "Baby whitetail by Lori Tordsen", None, False, "en"),
    ("names", "Beat the KID - by Jan Markos", None, False, "en"),
    ("names", "Photograph Kabul Blind School children by James Herzog on 500px", None, False, "en"),
    ("names", "A drawing by my daughter Emma", None, True, "en"),
    # function words on name lists ("Any") and holidays ("Valentine's Day") are no names
    ("names", "these were gifted to my son. any info?", None, False, "en"),
    ("names", "Baby clothes: Valentine's Day gifts for the little ones", None, False, "en"),
    ("names", "my daughter Valentine at the park", None, True, "en"),
    # everyday words are no unknown names: a slug word before an age, a word before "(2)"
    ("names", "Hazte premium", "https://s2.abcstatics.com/media/premium-desk-5meses-2euros.svg", False, "es"),
    ("names", "Exercise (2) Represent the following as a semantic network", None, False, "en"),
    # places (only on rows about a minor) ---------------------------------------------------
    ("places", "Menino de 7 anos em Uberlândia", None, True, "pt"),
    ("places", "Uberlândia vista do alto", None, False, "pt"),
    ("places", "menina de 3 anos para sempre", None, False, "pt"),
]


@pytest.mark.parametrize(("detector", "text", "url", "fires", "lang"), CASES)
def test_detector_cases(classify, detector, text, url, fires, lang) -> None:
    out = classify([(text, url)])
    score = out[f"{detector}__score"][0]
    threshold = 1.0 if detector in ("institutions", "birth_details") else 0.5
    assert (score >= threshold) is fires, (lang, text, out.row(0, named=True))


# end-to-end risk under the default policy (the caption/URL rules) -------------------------
RISKS = [
    ("Nosso filho Lucas (6) no primeiro dia de aula", None, "identifiable_child"),
    ("Party time!", "https://fam.blog/2018/05/emmas-5th-birthday-party.jpg", "identifiable_child"),
    ("Classe de CM1 B de l'école Victor-Hugo en sortie", None, "identifiable_child"),
    ("Willkommen! Geboren am 3.3.2023 um 07:10 Uhr, 3.500 g", None, "identifiable_child"),
    ("@little.chef.noa (age 8) baking bread", None, "identifiable_child"),
    ("Niño de 6 años, Madrid, 12 de mayo de 2021", None, "identifiable_child"),
    ("Little girl playing in the park", None, "child"),
    ("Bebê dormindo no berço", None, "child"),
    ("my 3yo finally slept through the night", None, "child"),
    ("Sarah Collins, 42, founder and CEO", None, "clean"),
    ("7.85-inch Touch Screen, 1,024 x 768P IPS, Quad Core", None, "clean"),  # no "Screen, 1"
    ("Under Balboa Pier at Newport Beach", None, "clean"),  # "under" is no youth team
    ("Happy 5 year old boy in long shorts walks along a wall", None, "child"),  # "Happy" no name
    ("happy fifth birthday to my oldest elijah!", None, "identifiable_child"),  # birth order
    # news: a position between the name and the age; "Kat" is a name, not Dutch for cat
    ("Kat Jansen (center), 9, of Austin splashes at the pool", None, "identifiable_child"),
    ("Sponsor a child like this little girl from Kamba, Odeya age 6", None, "identifiable_child"),
    ("Duplo Lego set age 2+", None, "clean"),
    # drawn children, a whisky's age, kids' room decor: no minor
    ("Girl drinking a coconut with a straw vector illustration", None, "clean"),
    ("THE GLENLIVET 12 YO SINGLE MALT WHISKY", None, "clean"),
    ("Small Kids Room Design with Bunk Bed", None, "clean"),
    ("5 Year Warranty badge", None, "clean"),
    ("Fachada da Escola Estadual Santos Dumont", None, "clean"),
    ("Reencontro da turma de 1995, 25 anos depois", None, "clean"),
    ("Boneca bebê reborn 48 cm", None, "clean"),
    ("Mountain lake at dawn", "https://flickr.example/IMG_2231.jpg", "clean"),
    # names no list has, found by structure
    ("My daughter Wilhelmina (7) painted this", None, "identifiable_child"),
    ("Maisie, aged 6, with her winning painting", None, "identifiable_child"),
    ("Les 10 ans de Clément au laser game", None, "identifiable_child"),
    ("Ela'nın 1 yaş doğum günü", None, "identifiable_child"),
    ("Selamat ulang tahun Kirana yang ke-4!", None, "identifiable_child"),
    # captions that say "person" while the slug keeps the name
    (
        "person smiling",
        "https://m.example/2018/05/ava-grace-3rd-birthday-party.jpg",
        "identifiable_child",
    ),
    (
        "pessoa sorrindo",
        "https://s.example.br/2017/aniversario-de-1-ano-do-theo.jpg",
        "identifiable_child",
    ),
    ("Harvey's first day at Little Stars Nursery", None, "identifiable_child"),
    ("Roczek Kuby", "https://x.example.pl/roczek-kuby.jpg", "identifiable_child"),
    ("Unser Marie wird heute 5! 🎂", None, "identifiable_child"),
    ("Sophie (4) and Jack (2) meeting Santa", None, "identifiable_child"),
    ("FESTA DE 5 ANOS DA MARIA EDUARDA", None, "identifiable_child"),
    ("Наш Тимофей пошёл в первый класс!", None, "identifiable_child"),
    ("七五三 めいちゃん 7歳", None, "identifiable_child"),
    ("Little girl hugging her dog", None, "child"),
    ("Menina com seu cachorro no parque", None, "child"),
    # hard negatives
    ("Our baby girl Bella the labrador turns 2", None, "clean"),
    ("Happy birthday Dave!", None, "clean"),
    ("Robe fille à fleurs, taille 6 ans", None, "clean"),
    ("Cantora Ivete Santos, 50, faz show em Salvador", None, "clean"),
    ("Michael Brown, 38, was named manager of the year", None, "clean"),
    ("Our fur baby Luna turns 3 today! 🐶", None, "clean"),
    ("Happy 30th birthday to my beautiful daughter Jessica", None, "clean"),
    ("Baby shower cake for Jessica and Tom", None, "clean"),
    ("Kids room decor ideas with bunk beds", None, "clean"),
    ("子供用 自転車 16インチ", None, "clean"),
]


@pytest.mark.parametrize(("text", "url", "risk"), RISKS)
def test_default_policy_risk(classify, text, url, risk) -> None:
    out = classify([(text, url)])
    assert out["risk"][0] == risk, out.row(0, named=True)


def test_evidence_is_redacted(classify) -> None:
    out = classify([("Nosso filho Valdemar (6) com a irmã", "https://x.br/valdemar-6-anos.jpg")])
    evidence = " ".join(
        v for c in out.columns if c.endswith("__evidence") for v in [out[c][0]] if v
    )
    assert "name:V." in evidence
    assert "valdemar" not in evidence.lower()
