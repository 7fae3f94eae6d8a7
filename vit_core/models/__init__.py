"""Models: loading from timm names, the hub, local checkpoints and transformers folders; their token geometry,
whether they fit in memory, the images they are fed and the classes they predict."""
