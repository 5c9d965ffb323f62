"""Auth capability: passwords, tokens, sessions with rotating refresh tokens, throttling.

``service.AuthService`` is the one entry point (``services.auth``); ``tokens.Principal``
is what a verified access token yields.
"""
