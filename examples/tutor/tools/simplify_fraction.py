import math


def simplify_fraction(numerator, denominator):
    """The fraction in lowest terms, as a (numerator, denominator) pair with a positive denominator."""
    if denominator == 0:
        raise ValueError("the denominator must not be zero")
    g = math.gcd(numerator, denominator)
    n, d = numerator // g, denominator // g
    if d < 0:
        n, d = -n, -d
    return (n, d)
