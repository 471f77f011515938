"""Drivers apply one change and know how to undo it; the engine decides when."""
