"""Resource quantities as the 1.11 apiserver stores them.

Follows apimachinery `pkg/api/resource/quantity.go` (vendored in origin release-3.11): `ParseQuantity`
(number, then a suffix: binarySI Ki..Ei, decimalSI n u m "" k M G T P E, or a decimal exponent e/E;
precision finer than 1n is rounded up) and `CanonicalizeBytes` (the serialised form: binarySI stays
binary only for integers outside (-1024, 1024), otherwise decimal; the mantissa is an integer and the
exponent the largest multiple of 3, or of 10 bits, that keeps it one). So `0.1` is stored as `100m`,
`1024Mi` as `1Gi`, `1000` as `1k`, `1.5Gi` as `1536Mi`.
"""
import re
from fractions import Fraction

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DEC_SUFFIX = dict((v, k) for k, v in _DECIMAL.items())
_BIN_SUFFIX = dict((v, k) for k, v in _BINARY.items())
_RE = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)$")
NANO = Fraction(1, 10 ** 9)


class QuantityError(ValueError):
    pass


def parse(text):
    """-> (value as Fraction, format "BinarySI"|"DecimalSI"|"DecimalExponent"). Raises QuantityError
    with the apiserver's message ("quantities must match the regular expression ...")."""
    if isinstance(text, bool):
        raise QuantityError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    if isinstance(text, (int, float)):
        text = repr(text) if isinstance(text, float) else str(text)
    if not isinstance(text, str):
        raise QuantityError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    m = _RE.match(text.strip())
    if not m or text != text.strip():
        raise QuantityError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    sign, num, suffix = m.groups()
    value = Fraction(num if not num.endswith(".") else num[:-1] or "0")
    if suffix in _BINARY:
        value *= 2 ** _BINARY[suffix]
        fmt = "BinarySI"
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
        fmt = "DecimalSI"
    elif re.match(r"^[eE][+-]?[0-9]+$", suffix):
        value *= Fraction(10) ** int(suffix[1:])
        fmt = "DecimalExponent"
    else:
        raise QuantityError("unable to parse quantity's suffix")
    if sign == "-":
        value = -value
    # precision finer than nano is rounded up (away from zero), like ParseQuantity
    scaled = value / NANO
    if scaled.denominator != 1:
        whole = scaled.numerator // scaled.denominator
        value = Fraction(whole + 1 if value > 0 else whole, 1) * NANO
    return value, fmt


def canonical(text):
    """The string 1.11 stores for a quantity (CanonicalizeBytes)."""
    value, fmt = parse(text)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value.denominator != 1):
        fmt = "DecimalSI"
    sign = "-" if value < 0 else ""
    mag = abs(value)
    if fmt == "BinarySI":
        n, exp = int(mag), 0
        while n % 1024 == 0 and exp < 60:
            n //= 1024
            exp += 10
        return "%s%d%s" % (sign, n, _BIN_SUFFIX.get(exp, ""))
    # decimal: the integer mantissa with the largest exponent that is a multiple of 3 (>= -9)
    exp = -9
    n = mag / NANO          # an integer (rounded to nano above)
    n = n.numerator
    while n % 1000 == 0 and n != 0:
        n //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return "%s%d%s" % (sign, n, ("e%d" % exp) if exp else "")
    if exp > 18:
        n *= 10 ** (exp - 18)
        exp = 18
    return "%s%d%s" % (sign, n, _DEC_SUFFIX[exp])


def compare(a, b):
    """-1, 0, 1 of two quantities by value."""
    va, vb = parse(a)[0], parse(b)[0]
    return (va > vb) - (va < vb)


def canonicalize_resources(resources):
    """Canonicalise a ResourceRequirements-like dict in place ({"requests": {...}, "limits": {...}}).
    Raises QuantityError (the apiserver rejects such a body while decoding it: 400)."""
    for section in ("limits", "requests"):
        vals = (resources or {}).get(section)
        if not isinstance(vals, dict):
            continue
        for k, v in list(vals.items()):
            vals[k] = canonical(v)
