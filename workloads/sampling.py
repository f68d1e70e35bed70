"""How the baselines sample a timing (:mod:`workloads.baselines`): the rules on their own,
so that the command line can show them without importing numba, scipy and torch."""

MAX_SPREAD = 0.25  # a timing whose IQR / median exceeds this is unstable
MIN_SAMPLE_S = 1e-3  # one timed sample lasts at least this (timer and scheduler noise)
MAX_REPEATS_FACTOR = 5  # samples taken at most, as a multiple of the minimum
BUDGET_S = 3.0  # no more samples past this many seconds of timing, once the minimum is met
