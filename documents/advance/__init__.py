"""Talking to HotDocs Advance: the API client (client.py), which URLs it requests (urls.py), where
its connections may go (connections.py) and how a call fails (errors.py). Import from the module
that defines a name."""
