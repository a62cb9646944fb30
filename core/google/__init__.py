"""Google API clients: Drive, authorization, Classroom, and Google's wire format for times.

Imports only base.
"""
