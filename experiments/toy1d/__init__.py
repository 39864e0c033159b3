"""The paper's 1-D illustration and theory, an experiment apart from the library.

config: the settings (every field a flag); game: the 1-D game on the library's state, step and
losses; runner: runs the experiments and writes their files; theory: D*, C(G), JSD, saturation
in closed form; plots: the figures. `python -m experiments.toy1d` runs it.
"""
