"""The base of core: settings, errors, database and models, logging, pagination, locks,
signing, the vault, outbound HTTP and its guards, disk, a process's services.

Imports no other package of core.
"""
