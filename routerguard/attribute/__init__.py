"""Attribute: which device a flow or an address belongs to."""
