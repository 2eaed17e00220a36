"""Make jaxmh/datasets/reaction_times.csv: simulated reaction times at the scale of a sleep study.

18 subjects, reaction time (ms) measured on days 0-9 of sleep restriction, from
``Reaction = alpha[s] + beta[s] * Days + N(0, 25^2)`` with ``alpha[s] ~ N(250, 25^2)``
and ``beta[s] ~ N(10, 6^2)`` (values of the size lme4's ``sleepstudy`` fit gives;
the data are simulated, not Belenky et al.'s).  Run from the repository's top:
``python examples/make_reaction_times.py``.
"""

import csv

import numpy as np

TRUTH = {"mu_alpha": 250.0, "sigma_alpha": 25.0, "mu_beta": 10.0, "sigma_beta": 6.0, "sigma": 25.0}


def main(path: str = "jaxmh/datasets/reaction_times.csv") -> None:
    rng = np.random.default_rng(20261201)
    alpha = rng.normal(TRUTH["mu_alpha"], TRUTH["sigma_alpha"], 18)
    beta = rng.normal(TRUTH["mu_beta"], TRUTH["sigma_beta"], 18)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Subject", "Days", "Reaction"])
        for s in range(18):
            for day in range(10):
                y = alpha[s] + beta[s] * day + rng.normal(0.0, TRUTH["sigma"])
                writer.writerow([f"S{308 + s}", day, f"{y:.2f}"])


if __name__ == "__main__":
    main()
