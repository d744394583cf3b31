"""One module per DVC stage; each reads top to bottom."""
