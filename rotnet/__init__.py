"""rotnet: self-supervised rotation prediction (RotNet) vs supervised training, as a DVC study."""

__version__ = "0.1.0"
