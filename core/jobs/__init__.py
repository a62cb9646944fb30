"""Jobs: task names and definitions, task records and their lifecycle, unacked deliveries
and liveness.

Imports only base.
"""
