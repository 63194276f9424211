"""Serve: the LAN page and the HTTP API."""
