"""Declarative checks of estimator parameters: one error type, one message shape.

Each estimator lists, in a class attribute ``_parameter_constraints``, the
values every constructor parameter may take, and calls
``self._validate_params()`` at the start of ``fit``. A value that satisfies
none of its parameter's constraints raises :class:`InvalidParameterError`
naming the estimator, the parameter, the value and everything that would
have been accepted.

This is skmitm's own small module, written after the idea of scikit-learn's
private ``sklearn.utils._param_validation`` (constraint objects, string
shorthands, an error that is both ValueError and TypeError); none of its code
is copied, and it does not import it.

A constraint is one of:

- an :class:`Interval` of integers or reals, an :class:`Options` or
  :class:`StrOptions` set, or a :class:`SequenceOf` another constraint;
- ``None`` (the value None), ``callable`` (any callable);
- a type (an instance of it; ``bool`` is not an ``int`` here);
- the strings ``"boolean"`` (Python or numpy bool), ``"array-like"`` (a
  list, tuple or numpy array), ``"random_state"`` (None, an int, a
  RandomState or a Generator), or ``"no_validation"`` as the whole entry.
"""

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "InvalidParameterError",
    "Interval",
    "Options",
    "ParamValidationMixin",
    "SequenceOf",
    "StrOptions",
    "check_size",
    "make_constraint",
    "validate_parameter_constraints",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value outside its constraints.

    Both a ValueError and a TypeError, so code catching either for a bad
    parameter (the usual Python convention for a wrong value or a wrong type)
    keeps working whichever it expected.
    """


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class _Constraint:
    """A set of accepted values: ``accepts(value)`` and a readable ``str``."""

    def accepts(self, value):
        raise NotImplementedError

    def __str__(self):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__}: {self}>"


class Interval(_Constraint):
    """Numbers of a kind between two bounds.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        Integral: integers (Python or numpy, not bools). Real: finite or
        infinite real numbers including integers (not bools, not NaN).
    left, right : number or None
        Bounds; None leaves that side open to infinity.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds belong to the interval.

    Examples
    --------
    >>> from numbers import Integral
    >>> from skmitm._param_validation import Interval
    >>> positive = Interval(Integral, 1, None, closed="left")
    >>> positive.accepts(3), positive.accepts(0), positive.accepts(2.0), str(positive)
    (True, False, False, 'an integer in [1, inf)')
    """

    def __init__(self, kind, left, right, *, closed="both"):
        if kind not in (numbers.Integral, numbers.Real):
            raise TypeError(f"kind={kind!r}; expected numbers.Integral or numbers.Real")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed={closed!r}; expected 'both', 'left', 'right' or 'neither'")
        if left is not None and right is not None and left > right:
            raise ValueError(f"left={left!r} > right={right!r}; the interval is empty")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def accepts(self, value):
        if not (_is_integer(value) if self.kind is numbers.Integral else _is_real(value)):
            return False
        if np.isnan(value):
            return False
        if self.left is not None and (
            value < self.left or (value == self.left and self.closed in ("right", "neither"))
        ):
            return False
        if self.right is not None and (
            value > self.right or (value == self.right and self.closed in ("left", "neither"))
        ):
            return False
        return True

    def __str__(self):
        kind = "an integer" if self.kind is numbers.Integral else "a real number"
        opening = "[" if self.closed in ("both", "left") and self.left is not None else "("
        closing = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        left = "-inf" if self.left is None else f"{self.left!r}"
        right = "inf" if self.right is None else f"{self.right!r}"
        return f"{kind} in {opening}{left}, {right}{closing}"


class Options(_Constraint):
    """One of a fixed set of values of a type.

    Examples
    --------
    >>> from skmitm._param_validation import Options
    >>> only_false = Options(bool, {False})
    >>> only_false.accepts(False), only_false.accepts(0), str(only_false)
    (True, False, 'False')
    """

    def __init__(self, kind, options):
        self.kind = kind
        self.options = frozenset(options)

    def accepts(self, value):
        return isinstance(value, self.kind) and value in self.options

    def __str__(self):
        shown = sorted(repr(option) for option in self.options)
        return shown[0] if len(shown) == 1 else f"one of {{{', '.join(shown)}}}"


class StrOptions(Options):
    """One of a fixed set of strings.

    Examples
    --------
    >>> from skmitm._param_validation import StrOptions
    >>> str(StrOptions({"score", "largest"}))
    "one of {'largest', 'score'}"
    """

    def __init__(self, options):
        super().__init__(str, options)


class SequenceOf(_Constraint):
    """A list, tuple or 1-D array whose items each satisfy a constraint.

    Parameters
    ----------
    item : constraint or list of constraints
        What each item must be (any of a list).
    min_length : int, default=1
        Fewest items; 1 refuses an empty sequence.
    unique : bool, default=False
        Whether the items must be distinct.

    Examples
    --------
    >>> from numbers import Real
    >>> from skmitm._param_validation import Interval, SequenceOf
    >>> scales = SequenceOf(Interval(Real, 0, None, closed="neither"), unique=True)
    >>> scales.accepts((2, 4)), scales.accepts((2, 2)), scales.accepts(2), scales.accepts("24")
    (True, False, False, False)
    """

    def __init__(self, item, *, min_length=1, unique=False):
        items = item if isinstance(item, list) else [item]
        self.items = [make_constraint(c) for c in items]
        self.min_length = min_length
        self.unique = unique

    def accepts(self, value):
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                return False
            value = value.tolist()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) < self.min_length:
            return False
        if not all(any(c.accepts(v) for c in self.items) for v in value):
            return False
        return not self.unique or len(set(value)) == len(value)

    def __str__(self):
        what = " or ".join(str(c) for c in self.items)
        size = "a non-empty sequence" if self.min_length == 1 else f"a sequence of at least {self.min_length} items"
        if self.min_length == 0:
            size = "a sequence"
        return f"{size} of {'distinct ' if self.unique else ''}items, each {what}"


class _InstanceOf(_Constraint):
    def __init__(self, kind):
        self.kind = kind

    def accepts(self, value):
        if self.kind in (int, numbers.Integral, float, numbers.Real) and isinstance(value, (bool, np.bool_)):
            return False
        return isinstance(value, self.kind)

    def __str__(self):
        module = "" if self.kind.__module__ == "builtins" else f"{self.kind.__module__}."
        return f"an instance of {module}{self.kind.__qualname__}"


class _Predicate(_Constraint):
    def __init__(self, test, text):
        self.test, self.text = test, text

    def accepts(self, value):
        return self.test(value)

    def __str__(self):
        return self.text


_SHORTHANDS = {
    "boolean": _Predicate(lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "array-like": _Predicate(
        lambda v: isinstance(v, (list, tuple, np.ndarray)), "an array-like (list, tuple or numpy array)"
    ),
    "random_state": _Predicate(
        lambda v: v is None or _is_integer(v) or isinstance(v, (np.random.RandomState, np.random.Generator)),
        "None, an int, a numpy RandomState or a numpy Generator",
    ),
}
_NONE = _Predicate(lambda v: v is None, "None")
_CALLABLE = _Predicate(callable, "a callable")


def make_constraint(constraint):
    """The constraint object for a constraint or its shorthand (see the module docstring).

    Examples
    --------
    >>> from skmitm._param_validation import make_constraint
    >>> str(make_constraint("boolean")), str(make_constraint(None)), str(make_constraint(dict))
    ('a bool', 'None', 'an instance of dict')
    """
    if isinstance(constraint, _Constraint):
        return constraint
    if isinstance(constraint, type):
        return _InstanceOf(constraint)
    try:
        return {None: _NONE, callable: _CALLABLE, **_SHORTHANDS}[constraint]
    except (KeyError, TypeError):
        raise ValueError(
            f"{constraint!r} is not a constraint; expected a constraint object, a type, None, callable or one of "
            f"{sorted(_SHORTHANDS)}"
        ) from None


def validate_parameter_constraints(constraints, params, caller_name):
    """Check every parameter named in ``constraints`` against its list of accepted values.

    Parameters
    ----------
    constraints : dict of str to list or "no_validation"
        Accepted values of each parameter; a value must satisfy at least one
        constraint of its list.
    params : dict of str to object
        The values, e.g. ``estimator.get_params(deep=False)``.
    caller_name : str
        How the owner is named in the message, e.g. the estimator's class.

    Raises
    ------
    InvalidParameterError
        For the first parameter, in the order of ``constraints``, that
        satisfies none of its constraints.

    Examples
    --------
    >>> from numbers import Integral
    >>> from skmitm._param_validation import Interval, validate_parameter_constraints
    >>> constraints = {"n": [Interval(Integral, 1, None, closed="left"), None]}
    >>> validate_parameter_constraints(constraints, {"n": 3}, "Demo")
    >>> validate_parameter_constraints(constraints, {"n": "3"}, "Demo")
    Traceback (most recent call last):
    ...
    skmitm._param_validation.InvalidParameterError: Demo: n='3'; expected an integer in [1, inf) or None
    """
    for name, accepted in constraints.items():
        if isinstance(accepted, str) and accepted == "no_validation":
            continue
        value = params[name]
        accepted = [make_constraint(c) for c in accepted]
        if any(c.accepts(value) for c in accepted):
            continue
        expected = " or ".join(str(c) for c in accepted)
        raise InvalidParameterError(f"{caller_name}: {name}={_short_repr(value)}; expected {expected}")


def check_size(size, name, *, square=True):
    """``(height, width)`` from an image size parameter: an int or a (height, width) pair of positive ints.

    Parameters
    ----------
    size : int or (int, int)
    name : str
        The parameter, named in the error.
    square : bool, default=True
        What an int means: a square (True), or a height whose width follows
        each image's aspect ratio (False: the width is None).

    Raises
    ------
    InvalidParameterError
        For anything else.

    Examples
    --------
    >>> from skmitm._param_validation import check_size
    >>> check_size(24, "probe_size"), check_size(24, "probe_size", square=False), check_size([16, 12], "size")
    ((24, 24), (24, None), (16, 12))
    """
    if _is_integer(size) and size >= 1:
        return (int(size), int(size) if square else None)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_integer(v) and v >= 1 for v in size):
        return (int(size[0]), int(size[1]))
    raise InvalidParameterError(f"{name}={size!r}; expected a positive integer or a (height, width) pair of them")


def _short_repr(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ParamValidationMixin:
    """Gives an estimator ``_validate_params()``: its parameters against ``_parameter_constraints``.

    It stands left of :class:`sklearn.base.BaseEstimator`, whose own
    ``_validate_params`` reads the same attribute with scikit-learn's private
    constraint objects; this one reads skmitm's.
    """

    _parameter_constraints: dict = {}

    def _validate_params(self):
        """Raise :class:`InvalidParameterError` for the first parameter outside its constraints."""
        params = {name: getattr(self, name) for name in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params, type(self).__name__)
