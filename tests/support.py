"""Builders and checks shared by the tests: a fixture repository and "index == disk"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codeagent.index.layout import EMBEDDED_COLLECTION, data_dir
from codeagent.index.manifest import Manifest
from codeagent.textfile import decode, split_lines

# Each concept lives in exactly one file, so a search for it has one right answer.
SOURCES: dict[str, str] = {
    "net/redirects.py": '''\
"""Following HTTP redirects for the client."""

MAX_REDIRECTS = 30


class RedirectError(Exception):
    """Raised when a response redirects too many times."""


class RedirectMixin:
    def get_redirect_target(self, response):
        """Return the Location header of a 3xx response, or None."""
        if response.is_redirect:
            return response.headers["location"]
        return None

    def resolve_redirects(self, response, request):
        """Follow HTTP redirects: send the request again to each new location."""
        hops = 0
        url = self.get_redirect_target(response)
        while url:
            hops += 1
            if hops > MAX_REDIRECTS:
                raise RedirectError(f"exceeded {MAX_REDIRECTS} redirects")
            request = request.copy(url=url)
            response = self.send(request)
            url = self.get_redirect_target(response)
        return response


def is_permanent(status_code):
    """301 and 308 are permanent redirects."""
    return status_code in (301, 308)
''',
    "storage/cache.go": '''\
package storage

// LRUCache keeps the most recently used entries and evicts the least recently used one
// when it is full.
type LRUCache struct {
	capacity int
	order    []string
	items    map[string][]byte
}

// NewLRUCache makes an empty cache holding at most capacity entries.
func NewLRUCache(capacity int) *LRUCache {
	return &LRUCache{capacity: capacity, items: map[string][]byte{}}
}

// Put stores a value and evicts the least recently used entry when over capacity.
func (c *LRUCache) Put(key string, value []byte) {
	c.items[key] = value
	c.order = append(c.order, key)
	if len(c.order) > c.capacity {
		oldest := c.order[0]
		c.order = c.order[1:]
		delete(c.items, oldest)
	}
}
''',
    "auth/password.rs": '''\
/// Password hashing with a per-user salt.
pub struct PasswordHasher {
    rounds: u32,
}

impl PasswordHasher {
    /// Hash a password with a random salt, many rounds, for storage in the database.
    pub fn hash_password(&self, password: &str, salt: &[u8]) -> Vec<u8> {
        let mut digest = salt.to_vec();
        for _ in 0..self.rounds {
            digest = sha256(&[digest.as_slice(), password.as_bytes()].concat());
        }
        digest
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    data.to_vec()
}
''',
    "web/format.js": '''\
// Formatting of money amounts for display in the shop's web pages.
export function formatPrice(cents, currency) {
  const units = (cents / 100).toFixed(2);
  return `${units} ${currency}`;
}

export class PriceTag {
  constructor(cents, currency) {
    this.cents = cents;
    this.currency = currency;
  }

  render() {
    return `<span class="price">${formatPrice(this.cents, this.currency)}</span>`;
  }
}
''',
    "docs/deploy.md": '''\
# Deploying

Build the container image, push it to the registry, then roll the new version out to the
cluster one node at a time.

## Rolling back

Roll back by deploying the previous image tag.
''',
    "config/app.yaml": '''\
server:
  port: 8080
  workers: 4
database:
  url: postgres://localhost/app
''',
}


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def make_repo(root: Path, *, hostile: bool = True) -> Path:
    """The fixture repository: a few languages, and every file the walker must judge."""
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, SOURCES)
    if not hostile:
        return root
    write_files(root, {
        ".gitignore": "generated/\n*.log\n!keep.log\n",
        "generated/models.py": "GENERATED = True\n",
        "debug.log": "noise\n",
        "keep.log": "a log file the user wants indexed\n",
        "broken.py": "def broken(:\n    return 1\n\n\ndef fine():\n    return 2\n",
        "conflict.py": "<<<<<<< HEAD\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> branch\n",
        "blob.xyz": b"\x89binary\x00\x01\x02" * 64,
        "legacy.py": "# caf\xe9 au lait\nGREETING = 'ol\xe9'\n".encode("latin-1"),
        "empty.py": "",
        ".env": "API_TOKEN=supersecret-token-value\n",
        "node_modules/lib/index.js": "module.exports = 1;\n",
    })
    (root / "big.txt").write_bytes(b"x" * (5 * 1024 * 1024))
    outside = root.parent / f"{root.name}-outside.py"
    outside.write_text("OUTSIDE_SECRET = 'do not index'\n")
    os.symlink(outside, root / "outside_link.py")
    return root


def indexed_state(repo: Path, collection: Any = None) -> tuple[dict[str, dict], dict[str, str]]:
    """(chunk id -> metadata + text) from the vector store (the embedded one, or the given
    Chroma collection, e.g. on a server), and path -> hash from the manifest; the store
    and the manifest list the same chunks, each once."""
    if collection is None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        client = chromadb.PersistentClient(path=str(data_dir(repo) / "chroma"),
                                           settings=ChromaSettings(anonymized_telemetry=False))
        collection = client.get_collection(EMBEDDED_COLLECTION)
    got = collection.get(include=["metadatas", "documents"])
    assert len(got["ids"]) == len(set(got["ids"]))
    chunks = {i: {**m, "text": d} for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:
        files = {p: r.hash for p, r in manifest.files().items() if r.skipped is None}
        assert manifest.chunk_ids() == set(chunks), "store and manifest disagree on chunk ids"
    finally:
        manifest.close()
    return chunks, files


def assert_index_matches_disk(repo: Path, expected_paths: set[str],
                              collection: Any = None) -> dict[str, dict]:
    """The index holds exactly `expected_paths`, and every chunk is exactly its file's lines
    (the store read from `collection` when given, as in `indexed_state`)."""
    from codeagent.textfile import content_hash

    chunks, files = indexed_state(repo, collection)
    assert set(files) == expected_paths
    for path, digest in files.items():
        assert content_hash((repo / path).read_bytes()) == digest, f"{path} is stale"
    lines_of = {p: split_lines(decode((repo / p).read_bytes())[0]) for p in files}
    seen = set()
    for meta in chunks.values():
        lines = lines_of[meta["path"]]
        assert meta["text"] == "\n".join(lines[meta["start_line"] - 1:meta["end_line"]])
        key = (meta["path"], meta["start_line"], meta["end_line"])
        assert key not in seen, f"duplicate chunk {key}"
        seen.add(key)
    for path, lines in lines_of.items():
        covered = {n for m in chunks.values() if m["path"] == path
                   for n in range(m["start_line"], m["end_line"] + 1)}
        missing = [n for n, line in enumerate(lines, 1) if line.strip() and n not in covered]
        assert not missing, f"{path}: lines {missing} are in no chunk"
    return chunks
