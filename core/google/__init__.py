"""Google: API clients (Drive, Classroom), Google's wire format for times, tokens (google-auth),
connections and how they are made (the OAuth client file, PKCE code flow, service accounts).

Imports only base.
"""
