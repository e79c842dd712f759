"""What every HTTP handler shares: typed keys for shared state, errors, request parsing.

Below the domains: each domain's handlers import from here, and the app
factory (backend.app) wires the domains together on top.
"""
