"""Google: API clients (Drive, Classroom), tokens (google-auth), connections and how they are made
(the OAuth client file, the code flow with PKCE, service accounts).

Imports only base.
"""
