"""Atomic file writes and the resumable per-shard journal.

A file is written to a temporary name in the same file system and moved into
place with ``os.replace``, so a reader (or a rerun after ``kill -9``) sees
either the old file, no file, or the complete new one.

The journal is one JSON object per line: a header describing the run, then
one record per finished image (``{"ok": entry}`` or ``{"fail": record}``).
A line torn by a kill is ignored on reading.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple


def atomic_write_bytes(path: str, data: bytes, tmp_dir: Optional[str] = None) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    directory = tmp_dir or os.path.dirname(os.path.abspath(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def dumps_json(obj: Any) -> str:
    """Canonical JSON text (sorted keys, so equal content gives equal bytes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def atomic_write_json(path: str, obj: Any, tmp_dir: Optional[str] = None) -> None:
    """Write ``obj`` as canonical, indented JSON atomically."""
    text = json.dumps(obj, sort_keys=True, indent=1)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"), tmp_dir)


def read_json(path: str) -> Any:
    """Parse a JSON file."""
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def read_journal(path: str) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]]]:
    """``(header, records)`` of a journal; ``(None, [])`` if it does not exist.

    Lines that do not parse (a line torn by a kill) are skipped.
    """
    if not os.path.exists(path):
        return None, []
    header: Optional[Dict[str, Any]] = None
    records: List[Dict[str, Any]] = []
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn last line
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "header" in obj and header is None:
                header = obj["header"]
            elif "ok" in obj or "fail" in obj:
                records.append(obj)
    return header, records


class Journal:
    """Append-only journal of one shard (see module docstring).

    Args:
        path: journal file.
        header: the run description written as the first line.
        records: records to keep from an earlier, interrupted run.
    """

    def __init__(self, path: str, header: Mapping[str, Any], records: List[Mapping[str, Any]]) -> None:
        self.path = path
        lines = [dumps_json({"header": dict(header)})] + [dumps_json(r) for r in records]
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
        self._f = open(path, "a", encoding="utf-8")

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record and flush it to the OS (survives a kill of this process)."""
        self._f.write(dumps_json(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        """Flush to disk and close."""
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
