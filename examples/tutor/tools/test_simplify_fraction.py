assert simplify_fraction(6, 8) == (3, 4)
assert simplify_fraction(10, 5) == (2, 1)
assert simplify_fraction(3, -9) == (-1, 3)
assert simplify_fraction(0, 7) == (0, 1)
try:
    simplify_fraction(1, 0)
    raise AssertionError("a zero denominator must be refused")
except ValueError:
    pass
