"""The paper's 1-D illustration and theory, an experiment apart from the library.

config: the settings (every field a flag); game: the 1-D game on the library's state, step and
losses; train: the experiments and their files; theory: D*, C(G), JSD, saturation in closed
form; plots: the figures. `python -m experiments.toy1d` runs it.
"""
