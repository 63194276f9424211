"""Enforce: the kernel state (nftables) that makes decisions hold."""
