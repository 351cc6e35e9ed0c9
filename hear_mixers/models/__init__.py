"""Encoders. Each takes fixed-length waveform windows and has its frontend inside."""
