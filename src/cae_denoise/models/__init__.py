"""Models: the architectures and their registry (``architectures``), the checkpoint format, tiled inference
and export for deployment."""
