"""Training: data input, augmentation, callbacks and the two-phase trainer."""
