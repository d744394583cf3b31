"""Datasets: sources (download, archives, image folders), preparation, on-device batches."""
