"""childguard's on-disk JSON records as typed models, each read and written in one module.

- `stats.py`: `stats/<shard>.json` (`ShardStats`), `markers.py`: `_state/.../task-N.done.json`
  (`TaskMarker`), `run.py`: `run.json` (`RunRecord`), `manifest.py`: a release's
  `manifest.json` (`ReleaseManifest`).
- Each carries a format version (`format_version`; `format` = "childguard-release/N" for
  manifest.json). A file without it was written before versions were recorded, in what is
  format 1, and is read as 1; a newer version than this childguard knows is refused.
- `url_norm_version` (run.json, manifest.json; `childguard.urls.URL_NORM_VERSION`): the URL
  normaliser its `url_sha256` values were made with; missing = 1 (the only one before it was
  recorded). Hashes of different versions are never joined (`check_url_norm`).
- Models keep unknown fields (`extra="allow"`) and write back exactly the fields they were
  given, so a record another version added (e.g. run.json's `rematch`) survives a rewrite.
"""

from childguard.formats.base import FormatError, Record, check_url_norm

__all__ = ["FormatError", "Record", "check_url_norm"]
