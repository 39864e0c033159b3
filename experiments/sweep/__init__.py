"""`python -m experiments.sweep`: launching a sweep's groups (launch.py) and ranking its members
(ranking.py); the plan itself (members, groups) is the library's gan_jax.sweep.plan."""
