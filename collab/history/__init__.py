"""Document history: versions of a document's text with their authors, diffs, restores.

A version is the text at one seq, kept in `document_versions` beside the live content (the
live CRDT keeps its garbage collection, and compaction folds the update log freely). Versions
are made automatically once a document has been quiet for a while after edits, at least
every so often while edits go on (a worker's pass: service.start_versioning), by name on
request, and around a restore, which is a forward edit like any other (service.restore).
"""
