"""Media files: probing, streaming, conditional requests.

Imports only base.
"""
