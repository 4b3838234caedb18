"""Training: the kinds of training as tasks (``tasks``), their objectives, the loop (``loop``: ``train_step``,
``end_epoch``, ``train``), several GPUs (``distributed``), train-then-evaluate (``pipeline``) and the multi-seed
experiment (``experiment``)."""
