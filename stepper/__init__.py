"""stepper: step through neural-network layers in the terminal."""

__version__ = "0.1.0"
