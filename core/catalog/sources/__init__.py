"""Catalog sources: Google Classroom courses and their materials as items.

Imports base, jobs, google, media and the rest of the catalog.
"""
