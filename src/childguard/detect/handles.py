"""Social handles of children: "@valentina.bebe.oficial fazendo 6 meses", "@petit.peintre.noe
(8 ans)". A handle counts when the row is about a minor (child words or a child's age) or the
handle itself says so ("bebe", "kid", "mini", "petit", "minik", "cilik", ...).

Evidence is redacted to the handle's initial (`@V.`).
"""

from __future__ import annotations

import re

import pyarrow as pa

from childguard.detect import signals
from childguard.detect._util import fold, result, scatter_floats, scatter_strings, take_list
from childguard.detect.base import LABELLED_OUTPUTS, Detector, Example, register
from childguard.detect.context import BatchContext
from childguard.redact import initials

HANDLE = re.compile(r"(?:^|[^\w@])@([A-Za-z0-9_.]{3,30})")
# a handle followed by a child's age: "@lotta.liest.buecher (9)", "@ada (6 yaş)"
HANDLE_AGE = re.compile(r"@[A-Za-z0-9_.]{3,30}\s*[(（,]\s*(?:age\s*)?(?:[0-9]|1[0-7])\b")
# Parts of a handle that say its owner is a child.
CHILD_HANDLE_WORDS = (
    "bebe", "baby", "kid", "kids", "mini", "minik", "petit", "petite", "little", "lil", "mala",
    "maly", "malenk", "chiisana", "cilik", "kecil", "junior", "jr", "bambin", "bimb", "enfant",
    "nino", "nina", "crianca", "child", "kinder", "kleine", "nene", "peque", "baba", "bebek",
)  # fmt: skip


@register
class Handles(Detector):
    """Detector `handles`: 1.0 on social handles of children, evidence redacted to an initial."""
    name = "handles"
    version = "1"
    outputs = LABELLED_OUTPUTS

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """1.0 where a handle looks like a child's or sits in a row about a minor."""
        s = ctx.signals
        n = batch.num_rows
        minor = signals.minor_subject(s) | signals.child_age(s)
        cand = (s["at"] & ~signals.negated(s)).arg_true()
        hits: list[int] = []
        ev: list[str | None] = []
        if len(cand):
            texts = take_list(batch, "text", cand)
            for i, t in zip(cand.to_list(), texts, strict=True):
                handles = HANDLE.findall(t or "")
                childish = [h for h in handles if any(w in fold(h) for w in CHILD_HANDLE_WORDS)]
                if childish or (handles and (minor[i] or HANDLE_AGE.search(t or ""))):
                    hits.append(i)
                    h = (childish or handles)[0]
                    ev.append("handle:" + initials("@" + h.split(".")[0].split("_")[0]))
        score = scatter_floats(n, hits)
        return result(self.name, n, score, scatter_strings(n, hits, ev), "handle")

    @staticmethod
    def examples() -> list[Example]:
        """Contract rows: children's handles that fire; a bakery's handle that doesn't."""
        return [
            Example("@valentina.bebe.oficial fazendo 6 meses 🎀", lang="pt"),
            Example("Our little chef @cookingwiththeo_ (age 9) made pancakes", lang="en"),
            Example("Follow @citybakery for fresh bread", fires=False, lang="en"),
        ]
