"""Google API clients: Drive, authorization, Classroom.

Imports only base.
"""
