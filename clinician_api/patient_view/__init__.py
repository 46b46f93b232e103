"""One patient's timeline: trends, home-BP averages, weights, devices, notes, live ECG."""
