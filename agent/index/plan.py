"""What an index run has to do: the walked files diffed against the manifest.

Stat data first (a file whose size and mtime are unchanged is not read), then the content
hash (a touched but unchanged file only has its stat data refreshed), then what the content
is (binary, a private key, minified: recorded as skipped, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from codeagent.index.languages import detect_language
from codeagent.index.manifest import FileRecord, FileUpdate
from codeagent.index.walker import FileEntry
from codeagent.textfile import content_hash, decode, holds_private_key, looks_minified


@dataclass
class Plan:
    to_index: list[tuple[FileEntry, str]] = field(default_factory=list)
    """(entry, "added" or "changed") of every file to chunk and embed."""
    content_skipped: list[FileUpdate] = field(default_factory=list)
    """Files recorded as skipped for what they hold (binary, secret, minified, too large)."""
    touched: list[FileRecord] = field(default_factory=list)
    """Same content, new stat data."""
    removed: list[str] = field(default_factory=list)
    """Paths the manifest knows that the walk no longer found."""
    skipped: dict[str, str] = field(default_factory=dict)
    """path -> reason, for the summary."""
    unchanged: int = 0
    removed_indexed: int = 0
    """Of the removed, those that had been indexed (not merely recorded as skipped)."""


def plan_changes(repo: Path, known: dict[str, FileRecord], entries: list[FileEntry],
                 force: bool, max_file_bytes: int) -> Plan:
    """The plan for `entries` (the walk) against `known` (the manifest's files); `force`
    re-chunks every file (the chunking settings changed)."""
    plan = Plan()
    for entry in entries:
        old = known.get(entry.path)
        if old and not force and (old.size, old.mtime_ns) == (entry.size, entry.mtime_ns):
            _count_unchanged(plan, old)
            continue
        try:
            data = (repo / entry.path).read_bytes()
        except OSError:
            plan.skipped[entry.path] = "unreadable"
            continue
        digest = content_hash(data)
        entry = replace(entry, size=len(data))
        if len(data) > max_file_bytes:  # it grew since the walk saw it
            plan.skipped[entry.path] = "too large"
            plan.content_skipped.append(FileUpdate(FileRecord(
                entry.path, digest, entry.size, entry.mtime_ns,
                detect_language(entry.path), 0, "too large"), []))
            continue
        if old and not force and old.hash == digest:
            plan.touched.append(replace(old, size=entry.size, mtime_ns=entry.mtime_ns))
            _count_unchanged(plan, old)
            continue
        language = detect_language(entry.path, data[:256])
        reason = content_skip_reason(data)
        if reason:
            plan.skipped[entry.path] = reason
            plan.content_skipped.append(FileUpdate(
                FileRecord(entry.path, digest, entry.size, entry.mtime_ns, language, 0,
                           reason), []))
        else:
            plan.to_index.append((entry, "changed" if old else "added"))
    walked = {entry.path for entry in entries}
    plan.removed = sorted(path for path in known if path not in walked)
    # A file the index only knew as skipped (too large, binary...) was never indexed:
    # forgetting its record is not a removal anyone should read about.
    plan.removed_indexed = sum(1 for path in plan.removed if known[path].skipped is None)
    return plan


def content_skip_reason(data: bytes) -> str | None:
    decoded = decode(data)
    if decoded is None:
        return "binary"
    if holds_private_key(data):
        return "secret"
    if looks_minified(decoded[0]):
        return "minified"
    return None


def _count_unchanged(plan: Plan, old: FileRecord) -> None:
    if old.skipped:
        plan.skipped[old.path] = old.skipped
    else:
        plan.unchanged += 1
