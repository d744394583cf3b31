"""Self-supervised methods beside RotNet (SimCLR, BYOL): their losses, heads, target network and recipes."""
