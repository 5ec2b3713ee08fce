"""magnet_trainer: the PyTorch BitNet b1.58 trainer that the magnet-node daemon runs as a subprocess."""

__version__ = "0.1.0"
FORMAT_VERSION = 1  # version of the checkpoint / pseudo-gradient / local-state safetensors layout
