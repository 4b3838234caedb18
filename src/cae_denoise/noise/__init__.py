"""Noise: the noise models and their spec registry (``models``), the camera pipeline and JPEG simulation
(``camera``, ``jpeg``), and the level estimator (``estimate``)."""
