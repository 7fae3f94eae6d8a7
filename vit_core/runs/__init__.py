"""Runs: analyze one batch, batch over folders (locally or on Ray), and evaluate faithfulness, each writing a result
that says what produced it."""
