"""Account: usage per device and per period."""
