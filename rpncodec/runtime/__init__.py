"""Torch-free coding runtime: numpy and ONNX Runtime."""
