"""Results: the typed AnalysisResult, its .npz and Parquet files with their provenance, and the rollout rows any
view asks of a finished analysis."""
