"""Operations: health checks, figures (metrics), maintenance.

Imports any package of core.
"""
