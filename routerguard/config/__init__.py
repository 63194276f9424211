"""Configuration: the UCI file, parsed into a typed, validated model."""
