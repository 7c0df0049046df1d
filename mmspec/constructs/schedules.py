"""Weight schedules: a param whose value follows the training time, from the spec to the IR and back
to math.

    param beta = warmup(0 -> 1, epochs=10)                       linear ramp, then constant
    param beta = cosine(1 -> 0.1, steps=5000)                    half a cosine from 1 to 0.1, then 0.1
    param beta = cyclical(0 -> 1, cycles=4, ratio=0.5, epochs=40)   Fu et al. 2019
    param beta = stepwise(values=[0, 0.5, 1], epochs=[5, 10])    piecewise constant

The time is `e`, the epochs elapsed (fractional: step / steps per epoch), with `epochs=`, or `t`, the
optimizer steps taken, with `steps=`; both are 0 at the first step and count within a training stage.
A schedule is data during training: its value is computed on the device from the step counter each
step (mmspec/lower/schedules.py), so the compiled step never changes and never waits for the host.
A scheduled param may only weight objective terms; a size, a K or a mixture weight must be fixed.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..syntax import ast
from ..errors import did_you_mean, one_of

FUNCS = ("warmup", "cosine", "cyclical", "stepwise")
UNITS = ("epochs", "steps")
TIME = {"epochs": "e", "steps": "t"}
_OPTIONS = {"warmup": (), "cosine": (), "cyclical": ("cycles", "ratio"), "stepwise": ("values",)}
_FORMS = {"warmup": "warmup(0 -> 1, epochs=10)", "cosine": "cosine(1 -> 0, steps=5000)",
          "cyclical": "cyclical(0 -> 1, cycles=4, ratio=0.5, epochs=40)",
          "stepwise": "stepwise(values=[0, 0.5, 1], epochs=[5, 10]) or stepwise(0 -> 1, epochs=5)"}


@dataclass(frozen=True)
class Schedule:
    """One schedule. `start -> end` over `length` units (warmup, cosine, cyclical: `cycles` ramps,
    each rising during the first `ratio` of its cycle); stepwise: `values[i]` from `bounds[i-1]` on."""
    kind: str
    unit: str                           # epochs | steps
    start: float
    end: float
    length: float = 0.0
    cycles: int = 1
    ratio: float = 1.0
    values: tuple[float, ...] = ()
    bounds: tuple[float, ...] = ()
    text: str = ""                      # as written

    @property
    def span(self) -> float:
        """How long the schedule changes (in its unit); constant at `end` from then on."""
        return self.bounds[-1] if self.kind == "stepwise" else self.length


def is_schedule(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Call) and expr.func in FUNCS


def elaborate(elab, call: ast.Call, text: str) -> Schedule:
    """`warmup(a -> b, epochs=N)` and friends -> a Schedule, every mistake a located error."""
    f = call.func
    unit_kw = [kw for kw in call.kwargs if kw.name in UNITS]
    allowed = UNITS + _OPTIONS[f]
    for kw in call.kwargs:
        if kw.name not in allowed:
            elab.fail(f"unknown option '{kw.name}' for {f}", kw, one_of(allowed), did_you_mean(kw.name, allowed))
    if len(unit_kw) != 1:
        elab.fail(f"{f}(...) needs its duration in epochs or in steps (one of them)", call, _FORMS[f])
    unit = unit_kw[0].name
    if f == "stepwise":
        return _stepwise(elab, call, unit, unit_kw[0].value, text)
    start, end = _endpoints(elab, call)
    length = _positive(elab, unit_kw[0].value, f"the length of a {f}")
    cycles, ratio = 1, 1.0
    if f == "cyclical":
        kw = call.kwarg("cycles")
        cycles = int(_positive(elab, kw, "cycles")) if kw is not None else 1
        if kw is not None and cycles != elab.number(kw):
            elab.fail("cycles must be a whole number", kw)
        kw = call.kwarg("ratio")
        ratio = elab.number(kw) if kw is not None else 0.5
        if not 0 < ratio <= 1:
            elab.fail("ratio is the part of each cycle spent rising: a number in (0, 1]", kw)
    return Schedule(f, unit, start, end, length, cycles, ratio, text=text)


def _endpoints(elab, call: ast.Call) -> tuple[float, float]:
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Arrow):
        elab.fail(f"{call.func} takes its start and end values as `a -> b`", call, _FORMS[call.func])
    arrow = call.args[0]
    return elab.number(arrow.left), elab.number(arrow.right)


def _positive(elab, expr: ast.Expr, what: str) -> float:
    value = elab.number(expr)
    if value <= 0:
        elab.fail(f"{what} must be positive", expr)
    return value


def _stepwise(elab, call: ast.Call, unit: str, at: ast.Expr, text: str) -> Schedule:
    """`stepwise(values=[v0, v1, ...], epochs=[t1, ...])`, or `stepwise(a -> b, epochs=t1)`."""
    listed = call.kwarg("values")
    if listed is not None:
        if call.args:
            elab.fail("stepwise takes either `a -> b` or values=[...], not both", call.args[0])
        if not isinstance(listed, ast.ListLit) or not isinstance(at, ast.ListLit):
            elab.fail("with values=[...], the times are a list too", at, f"values=[v0, v1, ...], {unit}=[t1, ...]")
        values = tuple(elab.number(v) for v in listed.items)
        bounds = tuple(elab.number(b) for b in at.items)
    else:
        start, end = _endpoints(elab, call)
        values, bounds = (start, end), (elab.number(at),)
    if len(values) != len(bounds) + 1:
        elab.fail(f"{len(values)} values need {len(values) - 1} times at which the value changes, "
                  f"not {len(bounds)}", at)
    if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
        elab.fail("the times at which the value changes must be positive and increasing", at)
    return Schedule("stepwise", unit, values[0], values[-1], values=values, bounds=bounds, text=text)


# ---- declaring a scheduled param (and `--set` on one) ------------------------------------------

def is_override(text: str) -> bool:
    """Whether a `--set` value is a schedule: `--set beta='warmup(0 -> 1, epochs=5)'`."""
    return text.split("(", 1)[0].strip() in FUNCS


def declare(checker, stmt: ast.ParamStmt, elab) -> None:
    """A param written as a schedule, or given one by `--set`. `--set NAME=VALUE` on a scheduled
    param replaces the schedule (by a constant, or by the schedule given) and says so in a note."""
    name, graph = stmt.name, checker.graph
    written = ast.source_text(checker.spec.source, stmt.expr)
    mine = checker.guard(elaborate, elab, stmt.expr, written) if is_schedule(stmt.expr) else None
    if name not in checker.overrides:
        if mine is not None:
            graph.schedules[name] = mine
        return
    text = checker.overrides[name]
    if is_override(text):
        given = _from_override(checker, name, text, elab)
        if given is not None:
            graph.schedules[name] = given
            checker.notes.append(f"--set {name}={text} replaces `{written}`: {name} follows {describe(given)}")
        return
    value = checker.override_value(name, text, elab)
    if value is not None:
        graph.params[name] = value
        checker.notes.append(f"--set {name}={text} replaces the schedule `{written}`: {name} is the constant "
                             f"{_fmt(value)} throughout training")


def _from_override(checker, name: str, text: str, elab) -> Schedule | None:
    """A schedule given on the command line, checked like one written in the spec; a mistake is
    reported against the `--set` text."""
    from ..errors import DiagnosticSink, Invalid, Span, SpecError
    from ..syntax.parser import parse
    source = f"param {name} = {text}"
    sink = DiagnosticSink(source, f"--set {name}")
    try:
        stmt = parse(source, f"--set {name}").statements[0]
        return elaborate(type(elab)(checker.graph, sink, {}, lambda *a: None), stmt.expr, text)
    except (SpecError, Invalid, IndexError) as err:
        why = sink.diagnostics[0].message if sink.diagnostics else (
            err.diagnostics[0].message if isinstance(err, SpecError) and err.diagnostics else "not a schedule")
        checker.sink.error(f"--set {name}={text}: {why}", Span(1, 1, 1, 1), _FORMS.get(text.split("(")[0].strip()))
        return None


def finite_throughout(weight) -> None:
    """A weight with scheduled params is checked at every value its schedules reach at a corner
    (start, end, each step of a stepwise): `1/beta` with `warmup(0 -> 1, ...)` divides by zero."""
    from itertools import product
    from ..model.numeric import NotANumber, finite_value
    from ..model import ir
    found: dict[str, Schedule] = {}
    _scheduled_in(weight, found)
    names = list(found)
    for corner in product(*(sorted(set(found[n].values or (found[n].start, found[n].end))) for n in names)):
        at = dict(zip(names, corner))
        try:
            finite_value(ir.Num(ir.weight_value(weight, at), ""))
        except ZeroDivisionError:
            raise NotANumber(f"division by zero when {_where(at)}") from None
        except NotANumber as why:
            raise NotANumber(f"{why} when {_where(at)}") from None
        except OverflowError:
            raise NotANumber(f"the value overflows when {_where(at)}") from None


def _where(at: dict) -> str:
    return ", ".join(f"{n} = {_fmt(v)}" for n, v in at.items())


def _scheduled_in(weight, found: dict) -> None:
    from ..model import ir
    if isinstance(weight, ir.Scheduled):
        found[weight.name] = weight.schedule
    for part in (getattr(weight, "left", None), getattr(weight, "right", None), getattr(weight, "operand", None)):
        if part is not None:
            _scheduled_in(part, found)


# ---- printing ----------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:.6g}"


def formula(name: str, s: Schedule, latex: bool = False) -> str:
    """The schedule as math in its time variable: `beta(e) = min(1, e/10)`."""
    x = TIME[s.unit]
    if s.kind == "stepwise":
        pieces = [f"{_fmt(v)} for {x} < {_fmt(b)}" if i == 0 else f"{_fmt(v)} for {x} ≥ {_fmt(s.bounds[i - 1])}"
                  for i, (v, b) in enumerate(zip(s.values, s.bounds + (0.0,)))]
        body = "; ".join(pieces)
        if latex:
            body = body.replace("≥", "\\geq").replace(" for ", "\\text{ for }").replace(";", ";\\;")
        return f"{name}({x}) = {body}"
    frac = f"\\min(1, {x}/{_fmt(s.length)})" if latex else f"min(1, {x}/{_fmt(s.length)})"
    tail = ""
    if s.kind == "cosine":
        ramp = f"(1 - \\cos(\\pi {frac}))/2" if latex else f"(1 - cos(π·{frac}))/2"
    elif s.kind == "cyclical":
        period = _fmt(s.length / s.cycles)
        tau = f"({x} \\bmod {period})/{period}" if latex else f"({x} mod {period})/{period}"
        ramp = f"\\min(1, {tau}/{_fmt(s.ratio)})" if latex else f"min(1, {tau}/{_fmt(s.ratio)})"
        tail = (f" for {x} < {_fmt(s.length)}, then {_fmt(s.end)}" if not latex
                else f" \\text{{ for }} {x} < {_fmt(s.length)}, \\text{{ then }} {_fmt(s.end)}")
    else:
        ramp = frac
    return f"{name}({x}) = {_affine(s.start, s.end - s.start, ramp, latex)}{tail}"


def _affine(a: float, d: float, ramp: str, latex: bool) -> str:
    """`a + d·ramp`, without a zero start or a unit factor."""
    dot = " \\cdot " if latex else "·"
    scaled = ramp if abs(d) == 1 else f"{_fmt(abs(d))}{dot}{ramp}"
    if a == 0:
        return scaled if d > 0 else f"-{scaled}"
    return f"{_fmt(a)} {'+' if d >= 0 else '-'} {scaled}"


def describe(s: Schedule) -> str:
    """In words, with the time unit: what a reader of `explain` needs to know."""
    unit = s.unit
    if s.kind == "warmup":
        return f"linear warm-up {_fmt(s.start)} → {_fmt(s.end)} over {_fmt(s.length)} {unit}, then {_fmt(s.end)}"
    if s.kind == "cosine":
        return f"cosine {_fmt(s.start)} → {_fmt(s.end)} over {_fmt(s.length)} {unit}, then {_fmt(s.end)}"
    if s.kind == "cyclical":
        return (f"cyclical (Fu et al. 2019): {s.cycles} cycles of {_fmt(s.length / s.cycles)} {unit}, each rising "
                f"linearly {_fmt(s.start)} → {_fmt(s.end)} in its first {_fmt(100 * s.ratio)}% and then constant; "
                f"{_fmt(s.end)} after {_fmt(s.length)} {unit}")
    steps = ", ".join(f"{_fmt(v)} from {_fmt(b)}" for v, b in zip(s.values[1:], s.bounds))
    return f"stepwise: {_fmt(s.values[0])}, then {steps} {unit}"


def text_lines(schedules: dict[str, Schedule]) -> list[str]:
    """explain's Schedules section (empty without schedules)."""
    if not schedules:
        return []
    units = sorted({TIME[s.unit] + ": " + ("epochs elapsed, fractional within an epoch" if s.unit == "epochs"
                                            else "optimizer steps taken") for s in schedules.values()})
    out = ["", "Schedules (" + "; ".join(units) + "; 0 at the first step of training, or of its stage)"]
    for name, s in schedules.items():
        out += [f"  {name} = {s.text}", f"    {describe(s)}", f"    {formula(name, s)}"]
    return out


def latex_lines(schedules: dict[str, Schedule]) -> list[str]:
    from ..model.ir import _latex_name
    return [formula(_latex_name(n), s, latex=True).replace(" = ", " &= ", 1) + " \\\\" for n, s in schedules.items()]


def coefficient_text(t, latex: bool = False) -> tuple[str, str]:
    """A linear term's coefficient with its scheduled factors: ('-', '0.25·beta') or ('+', '(1 + 0.5·beta)')."""
    from ..model.ir import render_weight
    dot = " \\cdot " if latex else "·"
    parts = [(c, dot.join(render_weight(f, latex, 2) for f in factors)) for c, factors in t.scheduled]
    if t.coefficient:
        parts.insert(0, (t.coefficient, ""))
    if len(parts) == 1:
        c, sym = parts[0]
        return ("-" if c < 0 else "+"), (sym if abs(c) == 1 else f"{_fmt(abs(c))}{dot}{sym}")
    text = ""
    for i, (c, sym) in enumerate(parts):
        mag = sym if abs(c) == 1 and sym else (f"{_fmt(abs(c))}{dot}{sym}" if sym else _fmt(abs(c)))
        text += (("- " if c < 0 else "+ ") if i else ("-" if c < 0 else "")) + mag + " "
    return "+", f"({text.strip()})"


def as_json(schedules: dict[str, Schedule]) -> dict:
    return {n: {"as_written": s.text, "kind": s.kind, "unit": s.unit, "start": s.start, "end": s.end,
                "length": s.length, "cycles": s.cycles, "ratio": s.ratio, "values": list(s.values),
                "times": list(s.bounds), "formula": formula(n, s)} for n, s in schedules.items()}


def shortfall(name: str, s: Schedule, epochs: int, steps_per_epoch: int) -> str | None:
    """A note when training ends before the schedule does (`--epochs` shorter than the ramp)."""
    total = epochs if s.unit == "epochs" else epochs * steps_per_epoch
    if total >= s.span:
        return None
    return (f"{name} = {s.text} changes for {_fmt(s.span)} {s.unit}, but training runs {_fmt(total)} {s.unit}: "
            f"the schedule keeps its meaning and is cut off, so {name} never reaches its final value "
            f"{_fmt(s.end)}")
