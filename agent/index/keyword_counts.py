"""The keyword index's term counts per chunk, kept between runs so an update tokenizes only
the chunks that are new, and its BM25 scores computed from them with bm25s's own formulas.

Why counts, measured (bench/index_scaling.py, README "Index cost by repository size"):
rebuilding from the manifest spent its time in three places, each growing with the whole
repository: tokenizing every chunk (a regex per chunk), making every chunk's corpus entry
(a LlamaIndex node serialized to JSON), and bm25s's `index`, whose doc frequencies and
scores are Python loops over every document. BM25 cannot be patched in place (one
document changes the average length and a token's idf, so every score moves), but its
statistics are simple: given each chunk's term counts, all scores are a few vectorized
array operations. So the index directory keeps, beside bm25s's files, each chunk's
manifest row (`chunks.json`) and term counts (`tf.npz`, a scipy CSR matrix over the same
vocabulary); an update reuses the counts and the corpus line of every chunk whose row is
unchanged (a chunk id is a hash of path, lines and text, so the row fixes its tokens),
tokenizes the rest, and recomputes every score from the counts. That is still linear in
the repository, but in NumPy, not Python: the per-chunk Python work is now for the changed
chunks only.

The scores are bm25s's: its idf and term-frequency functions (`bm25s.scoring`) applied to
whole arrays in the same float64 arithmetic its per-document loop uses, then stored in its
float32 CSC layout and saved by `BM25.save`, so `BM25.load` and BM25Retriever read the
index as before and rank exactly as a fresh `BM25.index` would (a test compares them).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate, chain
from pathlib import Path
from typing import Any, Callable
from zipfile import BadZipFile

ROWS = "chunks.json"
COUNTS = "tf.npz"
CORPUS = "corpus.jsonl"
VOCAB = "vocab.index.json"
FORMAT = "1"
"""Bumped when the tokenizer or the files change: counts of another format are not reused."""

Row = tuple  # (id, path, start_line, end_line, symbol, language), as Manifest.chunk_rows gives


@dataclass
class Counts:
    """Per chunk, in corpus order: its manifest row, its corpus line (the JSON of the node
    BM25Retriever returns) and its term counts (row i of `tf`, columns = `vocab`)."""

    rows: list[Row]
    lines: list[bytes]
    tf: Any
    """scipy.sparse.csr_matrix, one row per chunk, one column per token of `vocab`."""
    vocab: list[str]

    @classmethod
    def update(cls, previous: "Counts | None", rows: list[Row],
               texts: Callable[[list[str]], dict[str, str]],
               tokenize: Callable[[str], list[str]],
               entry: Callable[[Row], dict[str, Any]]) -> "Counts":
        """The counts for `rows` (the manifest's chunks, in corpus order), reusing
        `previous` for every row it holds unchanged; `texts` gives the text of chunk ids,
        `entry` the corpus entry of a row."""
        import numpy as np
        import scipy.sparse as sp
        from bm25s.utils import json_functions

        previous = previous or cls([], [], sp.csr_matrix((0, 0), dtype=np.int32), [])
        at = {row: i for i, row in enumerate(previous.rows)}
        vocab = list(previous.vocab)
        ids = {token: i for i, token in enumerate(vocab)}
        source = np.fromiter((at.get(row, -1) for row in rows), dtype=np.int64, count=len(rows))
        fresh = np.flatnonzero(source < 0)
        text_of = texts([rows[i][0] for i in fresh])
        lines = [previous.lines[j] if j >= 0 else b"" for j in source.tolist()]
        counted = []
        for i in fresh.tolist():
            row = rows[i]
            # The path counts as text: a question naming `redirects.py` finds its chunks.
            counted.append(Counter(tokenize(f"{row[1]}\n{text_of[row[0]]}")))
            lines[i] = (json_functions.dumps(entry(row), ensure_ascii=False) + "\n").encode()
        # Token ids by C-level maps over all new chunks at once, not a lookup per token.
        unseen = [t for t in dict.fromkeys(chain.from_iterable(counted)) if t not in ids]
        ids.update(zip(unseen, range(len(ids), len(ids) + len(unseen))))
        vocab += unseen
        tokens = np.fromiter(map(ids.__getitem__, chain.from_iterable(counted)), dtype=np.int32)
        counts = np.fromiter(chain.from_iterable(c.values() for c in counted), dtype=np.int32,
                             count=len(tokens))
        indptr = np.zeros(len(counted) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in counted], out=indptr[1:])
        width = len(vocab)
        old = sp.csr_matrix((previous.tf.data, previous.tf.indices, previous.tf.indptr),
                            shape=(previous.tf.shape[0], width), dtype=np.int32)
        new = sp.csr_matrix((counts, tokens, indptr), shape=(len(fresh), width))
        source[fresh] = old.shape[0] + np.arange(len(fresh))
        tf = sp.vstack([old, new], format="csr")[source]
        return cls(rows, lines, *_without_unused(tf, vocab))

    def bm25(self, corpus: Any = None) -> Any:
        """A bm25s.BM25 with these counts' scores, as `BM25.index` would compute them."""
        import numpy as np
        import scipy.sparse as sp
        from bm25s import BM25
        from bm25s.scoring import _build_idf_array, _select_idf_scorer, _select_tfc_scorer

        bm25 = BM25()
        tf, docs = self.tf, len(self.rows)
        lengths = np.asarray(tf.sum(axis=1), dtype=np.int64).ravel()
        frequencies = np.bincount(tf.indices, minlength=len(self.vocab))
        idf = _build_idf_array(dict(enumerate(frequencies.tolist())), docs,
                               _select_idf_scorer(bm25.idf_method), bm25.dtype)
        # As bm25s's per-document loop: float32 counts, the length an int, the average a
        # float64, so the arithmetic is float64 and only the product is stored as float32.
        tfc = _select_tfc_scorer(bm25.method)(
            tf_array=tf.data.astype(bm25.dtype), l_d=np.repeat(lengths, np.diff(tf.indptr)),
            l_avg=lengths.mean(), k1=bm25.k1, b=bm25.b, delta=bm25.delta)
        scores = sp.csr_matrix(((idf[tf.indices] * tfc).astype(bm25.dtype), tf.indices,
                                tf.indptr), shape=tf.shape).tocsc()
        scores.sort_indices()
        bm25.scores = {"data": scores.data, "indices": scores.indices.astype(bm25.int_dtype),
                       "indptr": scores.indptr.astype(np.int64), "num_docs": docs}
        bm25.vocab_dict = {token: i for i, token in enumerate(self.vocab)}
        bm25.vocab_dict[""] = len(self.vocab)  # what `index` adds for token-less queries
        bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
        bm25.nonoccurrence_array = None  # only the BM25L and BM25+ variants use one
        bm25.corpus = corpus
        return bm25

    def corpus(self) -> list[dict[str, Any]]:
        from bm25s.utils import json_functions

        return [json_functions.loads(line) for line in self.lines]

    def save(self, directory: Path) -> None:
        """bm25s's files (what `BM25.load` reads), then the corpus and the counts."""
        import scipy.sparse as sp
        from bm25s.utils.corpus import save_mmindex

        self.bm25().save(str(directory), show_progress=False)
        with open(directory / CORPUS, "wb") as out:
            out.writelines(self.lines)
        save_mmindex(list(accumulate((len(line) for line in self.lines[:-1]), initial=0)),
                     directory / CORPUS)
        sp.save_npz(directory / COUNTS, self.tf, compressed=False)
        (directory / ROWS).write_text(json.dumps({"format": FORMAT, "rows": self.rows}))


def load(directory: Path) -> Counts | None:
    """The counts a finished update saved in `directory`; None when there are none to
    trust (an index from before counts were kept, another format, unreadable files)."""
    import scipy.sparse as sp

    try:
        saved = json.loads((directory / ROWS).read_text())
        if saved.get("format") != FORMAT:
            return None
        rows = [tuple(row) for row in saved["rows"]]
        tf = sp.load_npz(directory / COUNTS).tocsr()
        vocab_ids = json.loads((directory / VOCAB).read_text(encoding="utf-8"))
        lines = (directory / CORPUS).read_bytes().split(b"\n")[:-1]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, BadZipFile):
        return None
    vocab = [token for token, _ in sorted(vocab_ids.items(), key=lambda item: item[1])]
    vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
    if not len(rows) == len(lines) == tf.shape[0] or tf.shape[1] != len(vocab):
        return None
    return Counts(rows, [line + b"\n" for line in lines], tf, vocab)


def _without_unused(tf: Any, vocab: list[str]) -> tuple[Any, list[str]]:
    """Tokens no chunk holds any more are dropped, so the vocabulary is the one a fresh
    build would have (a query token it lacks is ignored, not scored zero)."""
    import numpy as np
    import scipy.sparse as sp

    used = np.bincount(tf.indices, minlength=len(vocab)) > 0
    if used.all():
        return tf, vocab
    renumber = (np.cumsum(used) - 1).astype(np.int32)
    kept = sp.csr_matrix((tf.data, renumber[tf.indices], tf.indptr),
                         shape=(tf.shape[0], int(used.sum())))
    return kept, [token for token, keep in zip(vocab, used) if keep]
