"""The bottom floor: the typed Config, the errors, the one log path and the one atomic write.

Everything else in gan_jax may import these; they import nothing of gan_jax but each other.
"""
