"""The generated Vensim sketch: every stock and flow drawn, a clean layout, equations kept.

The sketch text is read back here with a parser of its own (Vensim's documented object lines),
and what it must show is known independently of the generator: for the shipped model from the
batch engine's reading of the equations (`sdplanner.engine.equations`), for the Vensim test
models (``../shared/test-models``, not copied into the project) and the small models below from
their equations as written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sdplanner.cli import main
from sdplanner.engine.equations import read_model
from sdplanner.engine.ir import Bin, Neg, Ref, references
from sdplanner.errors import ModelError
from sdplanner.sketch import model_with_sketch, read_structure, sketch_section

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "sdplanner.mdl"
TEST_MODELS = ROOT.parent / "shared" / "test-models" / "tests"
START = b"\\\\\\---///"
END = b"///---\\\\\\"

needs_test_models = pytest.mark.skipif(
    not TEST_MODELS.is_dir(), reason=f"the Vensim test models are not at {TEST_MODELS}"
)


# ------------------------------------------------------------------ reading a sketch back
@dataclass
class Obj:
    type: int
    id: int
    name: str
    x: int
    y: int
    w: int
    h: int
    shape: int
    bits: int


@dataclass
class Arrow:
    id: int
    src: int
    dst: int
    shape: int
    thick: int
    point: tuple[int, int]


@dataclass
class View:
    name: str
    objs: dict[int, Obj] = field(default_factory=dict)
    arrows: list[Arrow] = field(default_factory=list)

    def named(self, name: str) -> list[Obj]:
        return [o for o in self.objs.values() if o.type == 10 and o.name == name]


def parse_sketch(text: str) -> list[View]:
    """Read the views of a sketch section (object types 1, 10, 11, 12)."""
    body = text[text.index("\\\\\\---///") :]
    body = body[: body.index("///---\\\\\\")]
    views = []
    for part in body.split("\\\\\\---///")[1:]:
        lines = part.splitlines()
        assert lines[1].startswith("V300"), lines[:3]
        assert lines[2].startswith("*") and lines[3].startswith("$"), lines[:4]
        view = View(lines[2][1:])
        for line in lines[4:]:
            kind = line.split(",", 1)[0]
            if kind in ("10", "11", "12"):
                f = split_fields(line)
                obj = Obj(*map(int, f[:2]), f[2], *map(int, f[3:9]))
                assert obj.id not in view.objs, line
                view.objs[obj.id] = obj
            elif kind == "1":
                f = line.split(",")
                pts = re.findall(r"\|\((-?\d+),(-?\d+)\)", line)
                assert len(pts) == 1, line
                pt = (int(pts[0][0]), int(pts[0][1]))
                view.arrows.append(Arrow(int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[7]), pt))
            else:
                pytest.fail(f"unexpected sketch line {line!r}")
        views.append(view)
    return views


def split_fields(line: str) -> list[str]:
    """Split an object line at commas outside a quoted name (quotes and escapes kept)."""
    fields, current, quoted, escaped = [], "", False, False
    for ch in line:
        if ch == "," and not quoted:
            fields.append(current)
            current = ""
            continue
        current += ch
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
    return [*fields, current]


def overlaps(a: Obj, b: Obj) -> bool:
    return abs(a.x - b.x) < a.w + b.w and abs(a.y - b.y) < a.h + b.h


def crosses(p, q, box: Obj) -> bool:
    """Segment p-q passes through the inside of a box."""
    steps = 200
    for k in range(1, steps):
        x = p[0] + (q[0] - p[0]) * k / steps
        y = p[1] + (q[1] - p[1]) * k / steps
        if abs(x - box.x) < box.w and abs(y - box.y) < box.h:
            return True
    return False


# ------------------------------------------------------------------ what must be drawn
def signed_terms(node, sign=1):
    if isinstance(node, Bin) and node.op in ("+", "-"):
        yield from signed_terms(node.left, sign)
        yield from signed_terms(node.right, sign if node.op == "+" else -sign)
    elif isinstance(node, Neg):
        yield from signed_terms(node.arg, -sign)
    else:
        yield node, sign


def shipped_expectation() -> tuple[dict, dict]:
    """Stock name -> [(flow name, sign)] and stock name -> other rate inputs, from the IR."""
    ir = read_model(SHIPPED)
    flows, others = {}, {}
    for py in ir.stocks:
        var = ir.variables[py]
        flows[var.name], others[var.name] = [], set()
        for term, sign in signed_terms(var.expr):
            if isinstance(term, Ref) and ir.variables[term.name].kind != "stock":
                name = ir.variables[term.name].name
                if name not in [f for f, _ in flows[var.name]]:
                    flows[var.name].append((name, sign))
            else:
                # simulation controls (TIME STEP ...) are not drawn, as in Vensim's own sketches
                drawn = {r for r in references(term) if ir.variables[r].kind != "control"}
                others[var.name] |= {ir.variables[r].name for r in drawn} - {var.name}
    return flows, others


# Stocks and their flows as the test models' equations write them (first sign of a flow).
TEST_MODEL_FLOWS = {
    "zeroled_decimals/test_zeroled_decimals.mdl": {
        "stock1neg": [("flow1n", -1)],
        "stockmixed": [("flow6", 1), ("flow5", -1), ("flow7", -1), ("flow8", -1)],
        "stocknegatives": [("flow2", -1), ("flow4", -1)],
        "stock0": [],
        "stock1pos": [("flow1p", 1)],
        "stockpositives": [("flow1", 1), ("flow3", 1)],
    },
    "special_characters/test_special_variable_names.mdl": {
        '"Hyphenated-Stockname"': [
            ("normal flow", 1),
            ('"Flow*with a few^arithmetic + characters"', -1),
        ],
        '"Stock with \\n Newline Character"': [
            ('"Flow w/ division, lists, and INITIAL(construction functions)"', 1),
            ('"Flow with STEP(function call!)"', -1),
        ],
    },
    "time/test_time.mdl": {"Stock": [("Inflow", 1), ("Outflow 1", -1), ("Outflow 2", -1)]},
    "subscript_mapping_simple/test_subscript_mapping_simple.mdl": {
        "Level 2": [("link level", 1), ("output level 2", -1)],
        "Level 1": [("input level 1", 1), ("link level", -1)],
        "POPULATION": [("births", 1), ("aging", -1)],
    },
    "subscripted_delays/test_subscripted_delays.mdl": {
        f"Stock {d}": [(f"Inflow {d}", 1), (f"Outflow {d}", -1)]
        for d in ("Delay1", "Delay1I", "Delay3", "Delay3I", "DelayN")
    },
    "chained_initialization/test_chained_initialization.mdl": {
        f"Stock {c}": [(f"Flow {c}", 1)] for c in "ABCD"
    },
}

# A model with sectors: a triangle of three stocks (one pipe must pass a stock), a flow between
# two sectors, an accounting stock, a stock with an inline rate, flows that are constants.
SECTORS = """{UTF-8}
********************************************************
\t.Chain
********************************************************~
\t\tThree stocks joined every way.
\t|

Alpha= INTEG (inflow - a to b - a to c + b to a, 100)
\t~\tthing
\t~\t\t|

Beta= INTEG (a to b - b to a - b to c, 10)
\t~\tthing
\t~\t\t|

Gamma= INTEG (a to c + b to c - to other sector, 0)
\t~\tthing
\t~\t\t|

Total In= INTEG (inflow + to other sector, 0)
\t~\tthing
\t~\t\t|

inflow= 5 ~\tthing/Month ~\t\t|
a to b= Alpha * rate ab ~\tthing/Month ~\t\t|
a to c= Alpha * 0.01 ~\tthing/Month ~\t\t|
b to a= Beta * rate ba * effect ~\tthing/Month ~\t\t|
b to c= Beta / delay ~\tthing/Month ~\t\t|
rate ab= 0.05 ~\t1/Month ~\t\t|
rate ba= 0.02 ~\t1/Month ~\t\t|
delay= 4 ~\tMonth ~\t\t|
effect= Gamma / (Gamma + 10) ~\tDmnl ~\t\t|

********************************************************
\t.Other sector
********************************************************~
\t\tWhere Gamma's outflow goes.
\t|

Delta= INTEG (to other sector - "loss, of delta", 0)
\t~\tthing
\t~\t\t|

Goal Seeker= INTEG ((target - Goal Seeker) / delay, 0)
\t~\tthing
\t~\t\t|

to other sector= Gamma * 0.1 ~\tthing/Month ~\t\t|
"loss, of delta"= Delta * 0.2 ~\tthing/Month ~\t\t|
target= Delta + effect ~\tthing ~\t\t|

********************************************************
\t.Control
********************************************************~
\t\tSimulation control.
\t|

FINAL TIME= 10 ~\tMonth ~\t\t|
INITIAL TIME= 0 ~\tMonth ~\t\t|
SAVEPER= 1 ~\tMonth ~\t\t|
TIME STEP= 0.25 ~\tMonth ~\t\t|
"""
SECTORS_FLOWS = {
    "Alpha": [("inflow", 1), ("a to b", -1), ("a to c", -1), ("b to a", 1)],
    "Beta": [("a to b", 1), ("b to a", -1), ("b to c", -1)],
    "Gamma": [("a to c", 1), ("b to c", 1), ("to other sector", -1)],
    "Total In": [("inflow", 1), ("to other sector", 1)],
    "Delta": [("to other sector", 1), ('"loss, of delta"', -1)],
    "Goal Seeker": [],
}
SECTORS_OTHER = {"Goal Seeker": {"target", "delay"}}

CONTROLS = "FINAL TIME=1 ~~|\nINITIAL TIME=0 ~~|\nSAVEPER=1 ~~|\nTIME STEP=1 ~~|\n"

# Four stocks with flows between every pair: some pipes cannot run straight.
COMPLETE = (
    "{UTF-8}\n"
    + "".join(
        f"S{a}= INTEG ("
        + " + ".join(f"f{b}{a} - f{a}{b}" for b in "1234" if b != a)
        + ", 1) ~\tunit ~\t\t|\n"
        for a in "1234"
    )
    + "".join(
        f"f{a}{b}= S{a} * 0.0{a}{b} ~\tunit/year ~\t\t|\n" for a in "1234" for b in "1234" if a != b
    )
    + "FINAL TIME=5 ~~|\nINITIAL TIME=0 ~~|\nSAVEPER=1 ~~|\nTIME STEP=1 ~~|\n"
)
COMPLETE_FLOWS = {
    f"S{a}": [item for b in "1234" if b != a for item in ((f"f{b}{a}", 1), (f"f{a}{b}", -1))]
    for a in "1234"
}


# ------------------------------------------------------------------ the checks
def check_sketch(text: str, flows: dict, others: dict | None = None) -> list[View]:
    """Assert everything the sketch must show and how; return its views."""
    views = parse_sketch(text)
    assert views, "no view"
    real = {}  # every variable is drawn once (stock, name of a valve, auxiliary)
    for v in views:
        for o in v.objs.values():
            if o.type == 10 and o.bits == 3:
                assert o.name not in real, f"{o.name!r} drawn twice"
                real[o.name] = v
            if o.type == 10 and o.bits == 2:
                assert o.shape == 8, o
    for v in views:
        boxes = list(v.objs.values())
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not overlaps(a, b), (v.name, a, b)
        for arrow in v.arrows:
            assert arrow.src in v.objs and arrow.dst in v.objs, (v.name, arrow)
        valves = [o for o in boxes if o.type == 11]
        for valve in valves:
            label = v.objs[valve.id + 1]  # Vensim pairs a valve with the variable after it
            assert label.type == 10 and label.shape == 40 and label.bits == 3, label
            pipes = [a for a in v.arrows if a.src == valve.id and a.thick == 22]
            assert sorted(a.shape for a in pipes) == [4, 100], (valve, pipes)
            for pipe in pipes:
                end = v.objs[pipe.dst]
                assert (end.type, end.shape) in ((10, 3), (12, 0)), end
                # straight along the valve's axis, meeting the stock's side or the cloud
                if valve.shape == 34:
                    assert pipe.point[1] == valve.y
                    assert end.y - end.h < valve.y < end.y + end.h
                    side = 1 if end.x > valve.x else -1
                    tip = (end.x if end.type == 12 else end.x - side * end.w, valve.y)
                else:
                    assert valve.shape == 33 and pipe.point[0] == valve.x
                    assert end.x - end.w < valve.x < end.x + end.w
                    side = 1 if end.y > valve.y else -1
                    tip = (valve.x, end.y if end.type == 12 else end.y - side * end.h)
                for other in boxes:
                    if other.id not in (valve.id, end.id):
                        assert not crosses((valve.x, valve.y), tip, other), (v.name, label, other)
    for flow in {f for stock_flows in flows.values() for f, _ in stock_flows}:
        labels = [o for v in views for o in v.named(flow) if o.shape == 40]
        assert len(labels) == 1 and labels[0].bits == 3, f"flow {flow!r} has no valve"
    names_drawn = set(real)
    for stock, stock_flows in flows.items():
        v = real[stock]
        (box,) = v.named(stock)
        assert box.shape == 3, box
        for flow, sign in stock_flows:
            assert flow in names_drawn, f"flow {flow!r} not drawn"
            valves = [o for o in v.objs.values() if o.type == 11 and v.objs[o.id + 1].name == flow]
            piped = any(
                a.src == valve.id and a.dst == box.id and a.shape == (4 if sign > 0 else 100)
                for valve in valves
                for a in v.arrows
            )
            flow_ids = {o.id for o in v.named(flow)} | {o.id for o in valves}
            linked = any(a.src in flow_ids and a.dst == box.id and a.thick == 0 for a in v.arrows)
            assert piped or linked, f"{flow!r} ({sign:+d}) not connected to {stock!r} in {v.name}"
    for stock, inputs in (others or {}).items():
        v = real[stock]
        (box,) = v.named(stock)
        for name in inputs:
            ids = {o.id for o in v.named(name)}
            ids |= {o.id - 1 for o in v.named(name) if o.shape == 40}  # a flow's valve
            assert any(a.src in ids and a.dst == box.id for a in v.arrows), (stock, name)
    return views


def sketched_copy(tmp_path: Path, text: str | bytes, name: str = "m.mdl") -> tuple[Path, bytes]:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    data, _ = model_with_sketch(path)
    out = tmp_path / f"sketched-{name}"
    out.write_bytes(data)
    return out, data


def pysd_run(path: Path):
    import pysd

    model = pysd.read_vensim(str(path))
    return model.run()


# ------------------------------------------------------------------ the shipped model
@pytest.fixture(scope="module")
def shipped_sketch() -> bytes:
    return SHIPPED.read_bytes()


def test_shipped_model_carries_the_generated_sketch(shipped_sketch):
    # The committed sketch is what the generator draws from the committed equations.
    data, summary = model_with_sketch(SHIPPED)
    assert data == shipped_sketch
    assert summary.stocks == len(read_model(SHIPPED).stocks) > 0


def test_shipped_sketch_draws_every_stock_and_flow(shipped_sketch):
    flows, others = shipped_expectation()
    text = shipped_sketch.decode("utf-8")
    views = check_sketch(text, flows, others)
    # one view per sector: each stock sits in the view named after the .Group it is defined in
    headers = [
        (m.start(), m.group(1)) for m in re.finditer(r"(?m)^\*{4,}\s*\n\s*\.(.+?)\s*\n\*{4,}", text)
    ]
    for stock in flows:
        at = re.search(rf"(?m)^{re.escape(stock)}\s*(\[[^\]]*\])?\s*=\s*INTEG", text).start()
        group = [name for start, name in headers if start < at][-1]
        (view,) = [v for v in views if v.named(stock) and v.named(stock)[0].shape == 3]
        # view names keep letters, digits, spaces and . ( ) & + - (the sketch format's)
        assert view.name == " ".join(re.sub(r"[^\w .()&+-]", " ", group).split()), (stock, group)
    assert len(views) == len({v.name for v in views}) > 1


def test_shipped_equations_unchanged_and_pysd_runs_them_alike(tmp_path, shipped_sketch):
    from sdplanner.engine import get_engine

    head = shipped_sketch[: shipped_sketch.index(START)]
    plain = tmp_path / "plain.mdl"
    plain.write_bytes(head)
    # PySD translates the file with its sketch and runs it to the same numbers as the
    # equations alone (2010-2012: a full PySD run takes half a minute); the batch engine,
    # which reads the equations through PySD's parser too, over the whole horizon.
    for engine, final_time in (("pysd", 2012), ("batch", None)):
        a = get_engine(engine, plain).run({}, final_time=final_time)
        b = get_engine(engine, SHIPPED).run({}, final_time=final_time)
        assert a.values.keys() == b.values.keys() and a.values
        assert list(a.times) == list(b.times) and len(a.times) > 2
        for key in a.values:
            assert (a.values[key] == b.values[key]).all(), (engine, key)


def test_generator_output_is_the_same_under_any_hash_seed():
    runs = []
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "sdplanner", "sketch", str(SHIPPED)]
        runs.append(subprocess.run(cmd, env=env, capture_output=True, check=True).stdout)
    assert runs[0] == runs[1]
    assert runs[0].decode("utf-8") == sketch_section(SHIPPED)


# ------------------------------------------------------------------ other models
@needs_test_models
@pytest.mark.parametrize("name", sorted(TEST_MODEL_FLOWS))
def test_test_models_sketched_and_translated(tmp_path, name):
    src = TEST_MODELS / name
    original = src.read_bytes()
    out, data = sketched_copy(tmp_path, original, src.name)
    # the equations are kept byte for byte, Vensim's settings after the sketch too
    assert data[: data.index(START)] == original[: original.index(START)]
    assert (
        data[data.index(END) :].split(b"\n", 1)[1]
        == original[original.index(END) :].split(b"\n", 1)[1]
    )
    check_sketch(data.decode("utf-8"), TEST_MODEL_FLOWS[name])
    # drawing again gives the same bytes
    assert model_with_sketch(out)[0] == data
    # PySD translates the new file and runs it to the same numbers as the original
    plain = tmp_path / f"plain-{src.name}"
    plain.write_bytes(original)
    before, after = pysd_run(plain), pysd_run(out)
    assert before.equals(after)


@needs_test_models
def test_every_test_model_with_a_stock_gets_a_clean_sketch():
    # The suite is pinned (../shared/test-models/README.md): 49 of its models have a stock;
    # the others are refused with one line. No overlap, straight pipes, one real object each.
    drawn = 0
    for path in sorted(TEST_MODELS.glob("*/*.mdl")):
        try:
            data, _ = model_with_sketch(path)
        except ModelError as exc:
            assert "expected at least one stock (INTEG), found none" in str(exc), exc
            continue
        check_sketch(data.decode("utf-8"), {})
        drawn += 1
    assert drawn == 49


def test_sectors_model(tmp_path):
    out, data = sketched_copy(tmp_path, SECTORS)
    views = check_sketch(data.decode("utf-8"), SECTORS_FLOWS, SECTORS_OTHER)
    assert [v.name for v in views] == ["Chain", "Other sector"]
    chain, other = views
    # the flow between the two sectors is a pipe in its own group's view (from a cloud into
    # Delta) and a shadow with arrows into Gamma and Total In in the other
    (label,) = other.named("to other sector")
    (shadow,) = chain.named("to other sector")
    assert (label.shape, label.bits, shadow.shape, shadow.bits) == (40, 3, 8, 2)
    # the triangle is drawn with pipes only; the one that passes a stock runs above the row
    valves = [o for o in chain.objs.values() if o.type == 11]
    assert len(valves) == 5
    tops = [o.y - o.h for o in chain.objs.values() if o.shape == 3 and o.name != "Total In"]
    assert len(tops) == 3
    assert sum(v.y < max(tops) for v in valves) == 1
    assert model_with_sketch(out)[0] == data
    assert pysd_run(tmp_path / "m.mdl").equals(pysd_run(out))


def test_pipes_that_cannot_run_straight_become_arrows(tmp_path):
    out, data = sketched_copy(tmp_path, COMPLETE)
    (view,) = check_sketch(data.decode("utf-8"), COMPLETE_FLOWS)
    valves = [o for o in view.objs.values() if o.type == 11]
    clouds = [o for o in view.objs.values() if o.type == 12]
    assert len(valves) == 12 and clouds  # every flow a valve; some end in a cloud
    assert pysd_run(tmp_path / "m.mdl").equals(pysd_run(out))


def test_models_without_groups_are_cut_into_views(tmp_path):
    stocks = "".join(f"S{i}= INTEG (f{i}, 0) ~\tu ~\t\t|\nf{i}= 1 ~\tu ~\t\t|\n" for i in range(20))
    text = "{UTF-8}\n" + stocks + CONTROLS
    _, data = sketched_copy(tmp_path, text)
    views = check_sketch(data.decode("utf-8"), {f"S{i}": [(f"f{i}", 1)] for i in range(20)})
    assert [len([o for o in v.objs.values() if o.shape == 3]) for v in views] == [8, 8, 4]


# ------------------------------------------------------------------ the file around the sketch
def test_line_endings_and_missing_final_newline(tmp_path):
    crlf = SECTORS.replace("\n", "\r\n").rstrip("\r\n").encode("utf-8")
    _, data = sketched_copy(tmp_path, crlf)
    assert data.startswith(crlf + b"\r\n" + START)
    sketch = data[len(crlf) + 2 :]
    assert sketch.count(b"\n") == sketch.count(b"\r\n") > 20
    assert data.endswith(END + b"\r\n")


def test_existing_sketch_is_replaced(tmp_path):
    stale = SECTORS + "\\\\\\---/// Sketch information - old\nV300 x\n*Old\n"
    stale += "10,1,Alpha,1,1,1,1,3,3\n///---\\\\\\\n:L<%^E!@\n9:Current\n"
    _, data = sketched_copy(tmp_path, stale)
    assert data.startswith(SECTORS.encode("utf-8") + START)
    assert data.endswith(END + b"\n:L<%^E!@\n9:Current\n")
    assert b"*Old" not in data and b"*Chain" in data


# ------------------------------------------------------------------ bad input, the command line
def test_command_prints_writes_and_rewrites(tmp_path, capsys):
    model = tmp_path / "m.mdl"
    model.write_text(SECTORS, encoding="utf-8")
    assert main(["sketch", str(model)]) == 0
    assert capsys.readouterr().out == sketch_section(model)
    assert model.read_text(encoding="utf-8") == SECTORS  # printing writes nothing
    target = tmp_path / "drawn.mdl"
    assert main(["sketch", str(model), "--out", str(target)]) == 0
    line = capsys.readouterr().out
    # other variables: rate ab, rate ba, effect, delay (Chain) and target (Other sector)
    counts = "6 stocks, 7 flows, 5 other variables drawn"
    assert line == f"{target}: 2 views (Chain, Other sector); {counts}\n"
    assert target.read_bytes() == model_with_sketch(model)[0]
    assert main(["sketch", str(model), "--write"]) == 0
    first = model.read_bytes()
    assert first == target.read_bytes()
    assert main(["sketch", str(model), "--write"]) == 0
    assert model.read_bytes() == first


NO_STOCK = "{UTF-8}\na= 1 ~~|\n" + CONTROLS


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.mdl", "expected a Vensim .mdl file, found no such file"),
        (lambda d: d, "expected a Vensim .mdl file, found a directory"),
        (lambda d: _write(d / "m.txt", SECTORS), "found suffix '.txt'"),
        (lambda d: _write(d / "m.mdl", "a = (((\n"), "PySD cannot parse the model"),
        (lambda d: _write(d / "m.mdl", NO_STOCK), "expected at least one stock (INTEG)"),
        (
            lambda d: _write(d / "m.mdl", SECTORS.replace('"loss, of delta"', '"loss\x01"')),
            "has a control character",
        ),
    ],
)
def test_bad_models_give_one_line_and_exit_2(tmp_path, capsys, make, expected):
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    assert main(["sketch", str(path), "--write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and str(path) in err, err
    if before is not None:
        assert path.read_bytes() == before  # nothing written
    with pytest.raises(ModelError):
        read_structure(path)


def test_unwritable_output_gives_one_line_and_exit_2(tmp_path, capsys):
    model = _write(tmp_path / "m.mdl", SECTORS)
    for target, expected in (
        (tmp_path / "no" / "x.mdl", "does not exist"),
        (tmp_path, "found a directory"),
    ):
        assert main(["sketch", str(model), "--out", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
    with pytest.raises(SystemExit) as exc:
        main(["sketch", str(model), "--write", "--out", str(tmp_path / "x.mdl")])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mdl"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
