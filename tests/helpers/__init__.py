"""Helpers shared by the tests: scripted servers, real kernels, the official schemas."""
