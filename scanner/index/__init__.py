"""The scan index: what `baomi scan` knows of each file it read (metadata, SHA-256, report, rule set), so that a
re-scan reads only what changed and an interrupted scan resumes; in SQLite by default, or in PostgreSQL."""

from scanner.index.store import Run, ScanIndex, Stored, default_index_location

__all__ = ["Run", "ScanIndex", "Stored", "default_index_location"]
