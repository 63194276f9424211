"""Enforce: the kernel state (nftables, tc) that makes decisions hold."""
