"""Inside the model: token norms and high-norm outliers, attention sinks, heads and tokens switched off, test-time
registers, and the inspection that writes them (Darcet et al. 2024, "Vision Transformers Need Registers")."""
