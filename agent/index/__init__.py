"""Files on disk -> chunks -> vectors, BM25 and the manifest: everything `codeagent index`
writes, and the few things readers need to open what it wrote (`layout`)."""
