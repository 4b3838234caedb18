"""Data: image sources (folders, zip and tar archives, the built-in set), the train/val/test split and patch
sampling (``sources``), real pairs, procedural images (``synthetic``) and the files a command reads (``reads``)."""
