"""Use trained models: class predictions on any images, and putting photos upright."""
