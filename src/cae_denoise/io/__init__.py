"""Files: reading and writing images (``images``), the one safe writer (``outputs``), run locks, regular-file
checks, JSON reports and pictures."""
