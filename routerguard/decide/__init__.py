"""Decide: what each device may do, from its caps and usage (pure functions)."""
