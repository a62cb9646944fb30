"""The base of core: settings (their paths and value checks), errors, database and models, the
catalog's source names, logging, pagination, locks, signing, the vault, outbound HTTP and its
guards, disk, the process's children, a process's services.

Imports no other package of core.
"""
