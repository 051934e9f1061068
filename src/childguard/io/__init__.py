"""Reading shards and writing outputs: paths, formats, column conventions, atomic writes."""
