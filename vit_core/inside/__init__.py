"""Inside the model: token norms and high-norm outliers, attention sinks, and the inspection that writes them
(Darcet et al. 2024, "Vision Transformers Need Registers")."""
