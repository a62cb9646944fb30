"""The catalog: the item store, indexing, Drive browsing and scope, thumbnails, sources.

Imports base, jobs, google and media.
"""
