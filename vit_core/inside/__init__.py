"""Inside the model: token norms, attention sinks, heads and tokens switched off, test-time registers
(issue 31)."""
