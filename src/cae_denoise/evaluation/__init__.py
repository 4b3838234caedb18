"""Evaluation: scoring denoisers on the same noisy images (``evaluate``), what a name on the command line
denotes (``methods``: checkpoints, ``classical`` methods, learned ``peers``, ``oracle`` levels), the metrics,
paired statistics (``stats``), the no-reference checks and the compare grid (``grid``)."""
