"""Classifiers trained on the frozen feature maps of a pretrained backbone."""
