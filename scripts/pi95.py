"""The 95 % prediction interval of one more run, from n repeats of it (Student's t):
mean +- t(0.975, n - 1) x s x sqrt(1 + 1/n). Shared by the scripts that judge a figure against
repeats (validate.sh, adaptive-real.sh, sweep-paths.sh); they import it from scripts/."""
import statistics

# Two-sided 95 % Student t quantiles by degrees of freedom; between two listed, the lower
# degrees' (the wider interval).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t975(df):
    return T975.get(df) or T975[max(k for k in T975 if k <= df)]


def pi95_half_width(values):
    """Half-width of the interval from at least two repeats."""
    n = len(values)
    if n < 2:
        raise ValueError("a prediction interval needs at least two repeats")
    return t975(n - 1) * statistics.stdev(values) * (1 + 1 / n) ** 0.5
