"""Signal processing: pure functions and small streaming state objects, no I/O."""
