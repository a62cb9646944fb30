"""Operations: health checks, gauges (metrics read at scrape time), maintenance.

Imports any package of core.
"""
