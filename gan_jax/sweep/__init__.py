"""Sweeps: the plan of a sweep's members, and populations trained as one vmapped computation."""
