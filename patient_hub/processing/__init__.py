"""Streaming processing: bus readings and samples → derived readings and findings."""
