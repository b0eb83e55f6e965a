"""Lower the stateful functions of a ``.mdl`` into hidden stocks of the batch engine's model.

Each SMOOTH, DELAY, TREND, FORECAST, INITIAL, SAMPLE IF TRUE and DELAY FIXED is written as
hidden stocks (``Variable.hidden``) with PySD's equations, so both kernels integrate them
as they integrate INTEG stocks: every net flow is evaluated before any state changes.

* SMOOTH, SMOOTH3, SMOOTHI, SMOOTH3I, SMOOTH N (``pysd.py_backend.statefuls.Smooth``):
  ``order`` stocks ``s_i`` started at the initial value, with net flows
  ``((s_{i-1} - s_i) * order) / time`` (``s_{-1}`` the input); the output is the last one.
* DELAY1, DELAY1I, DELAY3, DELAY3I (``Delay``) and DELAY N (``DelayN``): ``order`` stocks
  started at ``initial * delay time``, with net flows ``(in_i - out_i) * order`` where
  ``out_i = d_i / delay time`` and ``in_i = out_{i-1}`` (``in_0`` the input); the output is
  ``d_last / delay time``. As PySD does, the order is lowered at initialization while
  ``order * TIME STEP`` exceeds the smallest delay time (`delay_order`); it is a hidden
  stock held at its initial value. DELAY N also keeps the delay times of its stages from
  one step to the next, as PySD's ``DelayN.times`` does.
* TREND and FORECAST: one stock, PySD's initial values, flows and outputs.
* INITIAL: a stock held at its initial value. ACTIVE INITIAL: its second argument while the
  initial values are computed, its first afterwards.
* SAMPLE IF TRUE: a stock replaced at every step by ``state * 0 + IF THEN ELSE(condition,
  input, state)``; DELAY FIXED: a ring buffer of ``round(max(delay / TIME STEP, 1))``
  values (`fixed_delay_length`), both as PySD updates them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sdplanner.engine.ir import (
    Bin,
    Call,
    Cmp,
    Ref,
    Variable,
    if_then_else,
    num,
)

__all__ = ["StatefulLowering", "UnsupportedError"]


class UnsupportedError(Exception):
    """A construct the batch engine does not support (converted to ModelError)."""


class StatefulLowering:
    """The stateful functions of `sdplanner.engine.lowering.Translator`, as hidden variables.

    Each ``_<PySD structure>`` method lowers one stateful structure of PySD's tree and
    returns the tree of its output; the hidden stocks and auxiliaries it needs go to
    ``self.hidden``.
    """

    # ---- stateful functions: hidden variables -----------------------------------------
    def _instance(self, function: str) -> str:
        k = self._counts.get(function, 0)
        self._counts[function] = k + 1
        return f"_{self.py}__{function}{k}"

    def _hide(self, py: str, label: str, kind: str, region: bool, expr, **fields) -> str:
        name = f"{self.name} ({label})"
        self.hidden.append(Variable(name, py, kind, region, expr, hidden=True, **fields))
        return py

    def _staged(self, node, what: str, truncate: bool, build) -> object:
        """Build a SMOOTH or DELAY with one hidden stock per stage of its order.

        ``build(order)`` makes the stages and returns the output. A literal order is used
        at once; any other is computed once the whole model is read, at the initial time
        with the model's constants and TIME STEP (`evaluate_constant`), as PySD computes it
        at initialization, and each run checks that its own settings give the same order
        (`ModelIR.orders`): the generated code has one stock per stage.
        """
        if isinstance(node, (int, float, np.integer, np.floating)) and not isinstance(node, bool):
            return build(_whole_order(float(node), what, truncate))
        out = self._instance("output")
        index = len(self.hidden)
        self._hide(out, f"{what} output", "auxiliary", self.region, None)

        def finish(value: float) -> tuple[int, object]:
            order = _whole_order(value, what, truncate)
            self.hidden[index] = dataclasses.replace(self.hidden[index], expr=build(order))
            return order

        self.deferred.append((what, truncate, self.expr(node), finish))
        return Ref(out)

    def _InitialStructure(self, node):
        base = self._instance("initial")
        init = self.expr(node.initial)
        return Ref(
            self._hide(base, "INITIAL", "stock", self.region, None, init=init, update="hold")
        )

    def _SmoothStructure(self, node):
        what = {1: "SMOOTH", 3: "SMOOTH3"}.get(int(node.order), "SMOOTH N")
        return self._smooth(node, what)

    def _SmoothNStructure(self, node):
        return self._smooth(node, "SMOOTH N")

    def _smooth(self, node, what: str):
        """PySD's Smooth: ``ddt = (targets - state) * order / smooth_time``."""
        base = self._instance("smooth")
        inflow = self.expr(node.input)
        smooth_time = self.expr(node.smooth_time)
        init = self.expr(node.initial)

        def build(order: int):
            target = inflow
            for i in range(order):
                stage = f"{base}_{i}"
                change = Bin("-", target, Ref(stage))
                if order != 1:  # x * 1 is x, to the bit
                    change = Bin("*", change, num(order))
                flow = Bin("/", change, smooth_time)
                self._hide(stage, f"{what} stage {i + 1}", "stock", self.region, flow, init=init)
                target = Ref(stage)
            return target

        return self._staged(node.order, what, False, build)

    def _DelayStructure(self, node):
        return self._delay(node, {1: "DELAY1", 3: "DELAY3"}.get(int(node.order), "DELAY N"))

    def _DelayNStructure(self, node):
        return self._delay(node, "DELAY N", register=True)

    def _delay(self, node, what: str, register: bool = False):
        """PySD's Delay (and DelayN, whose stages keep the delay times they were given)."""
        base = self._instance("delay")
        delay_time = Ref(
            self._hide(
                f"{base}_time",
                f"{what} delay time",
                "auxiliary",
                self.region,
                self.expr(node.delay_time),
            )
        )
        initial = Bin("*", self.expr(node.initial), delay_time)
        first_inflow = self.expr(node.input)
        smallest = Call("vmin", (delay_time,)) if self.region else delay_time

        def build(order: int):
            effective = Ref(
                self._hide(
                    f"{base}_order",
                    f"{what} order",
                    "stock",
                    False,
                    None,
                    init=Call("delay_order", (num(order), smallest, Ref("time_step"))),
                    update="hold",
                )
            )
            stages = [f"{base}_{i}" for i in range(order)]
            times = [delay_time] * order
            last_time = delay_time
            if register:
                # DelayN.ddt: times = roll(times); times[0] = delay_time(); the outflows
                # divide by them, the output by times[0] as the previous step left it
                held = [f"{base}_t{i}" for i in range(order)]
                times = [delay_time] + [Ref(h) for h in held[:-1]]
                for i, h in enumerate(held):
                    label = f"{what} delay time of stage {i + 1}"
                    self._hide(
                        h, label, "stock", self.region, times[i], init=delay_time, update="next"
                    )
                last_time = Ref(held[0])
            inflow = first_inflow
            for i, (stage, time) in enumerate(zip(stages, times, strict=True)):
                outflow = Bin("/", Ref(stage), time)
                flow = Bin("*", Bin("-", inflow, outflow), effective)
                self._hide(stage, f"{what} stage {i + 1}", "stock", self.region, flow, init=initial)
                inflow = outflow
            # the output: the last of the stages the order keeps
            output = Bin("/", Ref(stages[0]), last_time)
            for i in range(1, order):
                output = if_then_else(
                    Cmp("==", effective, num(i + 1)), Bin("/", Ref(stages[i]), last_time), output
                )
            return output

        return self._staged(node.order, what, True, build)

    def _DelayFixedStructure(self, node):
        base = self._instance("delayfixed")
        length = self._hide(
            f"{base}_length",
            "DELAY FIXED length",
            "stock",
            False,
            None,
            init=Call("fixed_delay_length", (self.expr(node.delay_time), Ref("time_step"))),
            update="hold",
        )
        return Ref(
            self._hide(
                base,
                "DELAY FIXED",
                "stock",
                self.region,
                self.expr(node.input),
                init=self.expr(node.initial),
                update="pipe",
                length=length,
            )
        )

    def _averaged(self, node, what: str, init) -> tuple:
        """Make the state of a TREND or FORECAST: ``ddt = (input - state) / average_time``.

        Returns the state, the input and the average time.
        """
        base = self._instance(what.lower())
        inp, avg = self.expr(node.input), self.expr(node.average_time)
        flow = Bin("/", Bin("-", inp, Ref(base)), avg)
        state = self._hide(base, what, "stock", self.region, flow, init=init(inp, avg))
        return Ref(state), inp, avg

    def _TrendStructure(self, node):
        """PySD's Trend: state = input / (1 + init_trend * average_time) at the start."""
        trend = self.expr(node.initial_trend)
        state, inp, avg = self._averaged(
            node, "TREND", lambda inp, avg: Bin("/", inp, Bin("+", num(1), Bin("*", trend, avg)))
        )
        return Call("zidz", (Bin("-", inp, state), Bin("*", avg, Call("abs", (state,)))))

    def _ForecastStructure(self, node):
        """PySD's Forecast: state = input / (1 + initial_trend) at the start."""
        trend = self.expr(node.initial_trend)
        state, inp, avg = self._averaged(
            node, "FORECAST", lambda inp, avg: Bin("/", inp, Bin("+", num(1), trend))
        )
        change = Call("zidz", (Bin("-", inp, state), Bin("*", avg, state)))
        return Bin("*", inp, Bin("+", num(1), Bin("*", change, self.expr(node.horizon))))

    def _SampleIfTrueStructure(self, node):
        """PySD's SampleIfTrue: state = state * 0 + if_then_else(condition, input, state)."""
        base = self._instance("sampleiftrue")
        sampled = if_then_else(self.expr(node.condition), self.expr(node.input), Ref(base))
        self._hide(
            base,
            "SAMPLE IF TRUE",
            "stock",
            self.region,
            Bin("+", Bin("*", Ref(base), num(0)), sampled),
            init=self.expr(node.initial),
            update="next",
        )
        return sampled


def _whole_order(value: float, what: str, truncate: bool) -> int:
    """PySD's order of a DELAY (truncated to a whole number) or SMOOTH (a whole number)."""
    if not math.isfinite(value):
        raise UnsupportedError(f"{what} of order {value!r}")
    order = float(int(value)) if truncate else value
    if order != int(order) or order < 1:
        raise UnsupportedError(f"{what} of order {value:g} (expected a whole number >= 1)")
    return int(order)
