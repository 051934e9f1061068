"""Cleaned releases, their removal manifests, verification, and purging downstream copies."""
