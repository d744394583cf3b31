"""The study report: our figures beside each other and beside the paper's."""
