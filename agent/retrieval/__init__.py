"""The index -> ranked code: semantic search, the grep engine, query variants, fusion of
vector and keyword rankings, what a question names, and the spans the tools show."""
