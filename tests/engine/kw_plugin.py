"""A tiny deterministic detector for engine tests (independent of the real lexicons)."""

import pyarrow as pa
import pyarrow.compute as pc

from childguard.detect import Detector, Example, register
from childguard.detect.base import REGISTRY

if "kw_test" not in REGISTRY._classes:

    @register
    class KeywordTest(Detector):
        name = "kw_test"
        version = "1"

        def score(self, batch: pa.Table) -> pa.Table:
            text = pc.utf8_lower(pc.fill_null(batch.column("text"), ""))
            hit = pc.match_substring_regex(text, r"girl|menina|zzchild")
            ident = pc.match_substring(text, "school")
            score = pc.if_else(ident, 1.0, pc.if_else(hit, 0.7, 0.0))
            ev = pc.if_else(pc.or_(hit, ident), "kw", pa.scalar(None, pa.string()))
            return pa.table({"kw_test__score": score, "kw_test__evidence": ev})

        @staticmethod
        def examples() -> list[Example]:
            return [Example("a girl", fires=True), Example("a dog", fires=False)]


POLICY = """
version = "test-1"
detectors = ["kw_test"]
[[rules]]
name = "kw_school"
risk = "identifiable_child"
when = "kw_test >= 1.0"
[[rules]]
name = "kw_any"
risk = "child"
when = "kw_test"
"""
