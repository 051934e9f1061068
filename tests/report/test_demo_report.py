"""The report over a real scan of the bundled demo sample, with the shipped detectors/policy."""

from __future__ import annotations

import base64
import re
from importlib.resources import files
from pathlib import Path

import pytest

from childguard.config import ScanConfig
from childguard.engine.local import run_scan
from childguard.io.paths import expand_inputs
from childguard.io.readers import iter_batches, open_shard
from childguard.report import build_report


@pytest.mark.slow
def test_demo_report_shows_no_source_words(tmp_path: Path) -> None:
    data = Path(str(files("childguard.demo") / "data"))
    result = run_scan(
        ScanConfig(inputs=[str(data)], out=str(tmp_path / "audit"), workers=1), progress=False
    )
    assert result.rows > 0
    res = build_report(tmp_path / "audit", examples=10)
    d = res.data
    assert d["totals"]["rows"] == result.rows
    assert d["totals"]["risk_counts"] == {
        k: result.risk_counts.get(k, 0) for k in d["totals"]["risk_counts"]
    }
    assert d["signals"] and d["examples"]

    html = res.html.read_text()
    svgs = [
        base64.b64decode(m).decode()
        for m in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    ]
    text = "\n".join([html, res.json.read_text(), *svgs])
    shown = {(e["shard_id"], e["row_index"]) for rows in d["examples"].values() for e in rows}
    template = (files("childguard.report") / "templates" / "report.html").read_text().lower()
    seen = 0
    for shard in expand_inputs([str(data)]):
        for batch in iter_batches(open_shard(shard)):
            for row, caption, url in zip(
                batch.column("row_index").to_pylist(),
                batch.column("text").to_pylist(),
                batch.column("url").to_pylist(),
                strict=True,
            ):
                if (shard.shard_id, row) not in shown:
                    continue
                seen += 1
                assert url not in text
                # capitalised words of the caption: names, places, schools (words the
                # template itself uses, like "Examples", prove nothing either way)
                for word in re.findall(r"\b[A-ZÀ-Ý][a-zà-ÿ]{3,}\b", caption or ""):
                    if word.lower() in template:
                        continue
                    assert not re.search(rf"\b{re.escape(word)}\b", text), word
    assert seen == len(shown)
