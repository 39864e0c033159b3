"""The game's math: the networks, the losses, the optimisers, the state and the pure step."""
