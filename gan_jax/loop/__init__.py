"""The training loop: chunks of compiled steps, and the periodic actions between them."""
