"""One training engine for supervised, rotation and probe training."""
