"""The bundled synthetic sample (`data/`) that `childguard demo` scans."""
