"""`childguard eval` on a small labelled file written by the test.

The plumbing (metrics, redaction) is tested with the hand-rule policy (`--policy rules`), whose
decisions on these written rows are known; the trained scorer has its own tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from childguard.cli import app

ROWS = [
    # (URL, TEXT, label, lang)
    (
        "https://x.br/a.jpg",
        "Nosso filho Bartolomeu (6) no primeiro dia de aula",
        "identifiable_child",
        "pt",
    ),
    ("https://x.br/festa-7-anos-gertrudes.jpg", "Decoração da festa", "identifiable_child", "pt"),
    ("https://x.br/b.jpg", "Criança brincando na areia", "child", "pt"),
    ("https://x.br/c.jpg", "Liquidificador com 5 anos de garantia", "none", "pt"),
    ("https://x.org/d.jpg", "My daughter Wilhelmina (7) painted this", "identifiable_child", "en"),
    ("https://x.org/e.jpg", "Little boy flying a kite", "child", "en"),
    # deliberately hard: an unnamed child labelled identifiable -> misclassified, redacted
    (
        "https://x.org/f/ottoline-secret.jpg",
        "Ottoline smiling at the camera",
        "identifiable_child",
        "en",
    ),
    ("https://x.org/g.jpg", "Mountain lake at dawn", "none", "en"),
]


def _write(path: Path) -> None:
    cols = list(zip(*ROWS, strict=True))
    pq.write_table(
        pa.table({"URL": cols[0], "TEXT": cols[1], "label": cols[2], "lang": cols[3]}), path
    )


def test_eval_command(tmp_path: Path) -> None:
    data = tmp_path / "lab.parquet"
    _write(data)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["eval", str(data), "--label-col", "label", "--policy", "rules", "--out", str(out)],
        env={"COLUMNS": "160"},
    )
    assert res.exit_code == 0, res.output
    assert "ALL" in res.output and "pt" in res.output and "en" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["overall"]["identifiable_child"]
    assert overall["tp"] == 3 and overall["fn"] == 1 and overall["fp"] == 0
    # 5 of 6 minors flagged: the unnamed "Ottoline" row has no child word for the screen
    assert metrics["overall"]["minor_recall"] == round(5 / 6, 4)
    mis = (out / "misclassified.csv").read_text()
    assert "identifiable_child" in mis
    blob = (res.output + mis + (out / "metrics.json").read_text()).lower()
    for secret in ("ottoline", "bartolomeu", "wilhelmina", "gertrudes", "smiling at"):
        assert secret not in blob, secret


def test_eval_rejects_bad_labels(tmp_path: Path) -> None:
    data = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"URL": ["u"], "TEXT": ["t"], "label": ["maybe"], "lang": ["en"]}), data
    )
    res = CliRunner().invoke(app, ["eval", str(data), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "row 0" in res.output and "'label'" in res.output and "maybe" in res.output


def test_eval_without_language_column(tmp_path: Path) -> None:
    data = tmp_path / "nolang.parquet"
    pq.write_table(
        pa.table(
            {
                "url": ["https://x.org/a.jpg", "https://x.org/b.jpg"],
                "caption": ["My son Theodore (4) at the zoo", "Mountain lake"],
                "y": ["identifiable_child", "none"],
            }
        ),
        data,
    )
    res = CliRunner().invoke(
        app,
        ["eval", str(data), "--label-col", "y", "--policy", "rules", "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["overall"]["identifiable_child"]["tp"] == 1


def test_eval_reads_jsonl_csv_and_tsv_like_parquet(tmp_path: Path) -> None:
    import polars as pl

    _write(tmp_path / "lab.parquet")
    df = pl.read_parquet(tmp_path / "lab.parquet")
    df.write_ndjson(tmp_path / "lab.jsonl")
    df.write_csv(tmp_path / "lab.csv")
    df.write_csv(tmp_path / "lab.tsv", separator="\t")
    figures = []
    for name in ("lab.parquet", "lab.jsonl", "lab.csv", "lab.tsv"):
        out = tmp_path / f"out-{name}"
        res = CliRunner().invoke(
            app, ["eval", str(tmp_path / name), "--policy", "rules", "--out", str(out)]
        )
        assert res.exit_code == 0, (name, res.output)
        figures.append(json.loads((out / "metrics.json").read_text())["overall"])
    assert figures[0]["identifiable_child"]["tp"] == 3
    assert all(f == figures[0] for f in figures[1:])
    (tmp_path / "lab.xlsx").write_text("x")
    res = CliRunner().invoke(
        app, ["eval", str(tmp_path / "lab.xlsx"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and ".jsonl" in res.output


SAMPLE = Path(__file__).resolve().parents[2] / "labels" / "sample" / "eval_sample.jsonl"


def test_the_shipped_sample_is_held_out_and_named_in_the_readme(tmp_path: Path) -> None:
    readme = (SAMPLE.parents[2] / "README.md").read_text()
    assert "childguard eval labels/sample/eval_sample.jsonl" in readme
    res = CliRunner().invoke(
        app, ["eval", str(SAMPLE), "--out", str(tmp_path / "o")], env={"COLUMNS": "160"}
    )
    assert res.exit_code == 0, res.output
    # the shipped model never trained on these rows, so eval gives no overlap warning
    assert "used to train" not in res.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["overall"]["rows"] == 40
    assert {g["group"] for g in metrics["groups"]} == {"de", "en", "es", "fr", "it", "pt"}
