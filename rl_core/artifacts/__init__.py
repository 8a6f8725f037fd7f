"""Artifacts: agent folders on disk (their format, checks, listing, zips, names)."""
