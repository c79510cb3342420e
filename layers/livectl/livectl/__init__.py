"""livectl: the shared layer of the livectl control plane (signing, provider clients, catalogue, adapters)."""

__version__ = "0.1.0"
