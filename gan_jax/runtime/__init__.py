"""What runs the game: the config, devices, checkpoints, writers, work directories, errors."""
