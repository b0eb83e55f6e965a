"""The explorer's JSON API over a real socket: valid runs, every bad input -> 4xx, still alive.

The server runs in this process on 127.0.0.1 with a free port and the fast batch engine. The
numbers it answers are compared with ``sdplanner run`` of the scenario file it saves: the same
engine and the same parameters give the same floats, so the tolerance is a few ulps
(rel 1e-12) and only covers the CSV round trip.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import socket

import numpy as np
import pandas as pd
import pytest
import yaml

from sdplanner.cli import main
from sdplanner.results import RESULT_COLUMNS
from sdplanner.scenario import load_scenario
from sdplanner.style import BASELINE_COLOR
from tests.shipped import AGGREGATE, LEVERS, OUTPUT_VARIABLES, REGIONS, SPEC

from .conftest import SCENARIOS

PUSH_YAML = """\
name: push
description: infrastructure with regional overrides and parameters, for the explorer tests
levers:
  infrastructure_investment:
    strength: 0.05
    start: 2016
    ramp_years: 4
    regions:
      Tibet: {strength: 0.08, start: 2018}
  hukou_reform: {strength: 0.3}
parameters:
  initial_migrant_share_of_rural_workforce: {Wulingshan: 0.38}
"""


@pytest.fixture(scope="module")
def scen_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("scenarios")
    shutil.copy(SCENARIOS / "baseline.yaml", d / "baseline.yaml")
    (d / "push.yaml").write_text(PUSH_YAML)
    (d / "broken.yaml").write_text("name: broken\nlevers:\n  no_such_lever: {strength: 1}\n")
    return d


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory):
    years = np.arange(2010, 2051)
    rows = []
    for region in (AGGREGATE, "Wulingshan"):
        for var in ("urbanization_rate", "infrastructure_capital"):
            mid = np.linspace(0.3, 0.8, len(years))
            for y, m in zip(years, mid, strict=True):
                rows.append(
                    ("baseline", region, var, y, m - 0.1, m - 0.05, m, m + 0.05, m + 0.1, m)
                )
    frame = pd.DataFrame(
        rows,
        columns=[
            "scenario",
            "region",
            "variable",
            "year",
            "p05",
            "p25",
            "p50",
            "p75",
            "p95",
            "mean",
        ],
    )
    path = tmp_path_factory.mktemp("ensemble") / "percentiles.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def server(scen_dir, ensemble_file):
    from sdplanner.web import Explorer, make_server, serve_in_thread

    # the .mdl defaults: the numbers do not depend on the calibrated parameter file
    explorer = Explorer(scen_dir, engine="batch", ensemble=ensemble_file, params=False)
    srv = make_server(explorer, "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def call(server, method, path, body=None, *, raw=None, headers=None):
    """One request; returns (status, headers, body bytes)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        hdrs = {"Content-Type": "application/json"} if (body is not None or raw is not None) else {}
        hdrs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=hdrs)
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read()
    finally:
        conn.close()


def raw_exchange(server, payload: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes on a socket and return everything the server answers."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(payload)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def run(server, **body):
    status, _, data = call(server, "POST", "/api/run", body)
    assert status == 200, data
    return json.loads(data)


def series(answer, role):
    return next(s for s in answer["series"] if s["role"] == role)


# ---- valid requests ------------------------------------------------------------------------
def test_meta(server):
    status, headers, data = call(server, "GET", "/api/meta")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    meta = json.loads(data)
    assert [p["section"] for p in meta["paths"]] == [
        "4.1",
        "4.2",
        "4.3",
        "4.4",
        "4.5",
        "beyond the seed",
    ]
    levers = [lv for p in meta["paths"] for lv in p["levers"]]
    assert [lv["name"] for lv in levers] == [lv.name for lv in LEVERS]
    assert all({"unit", "min", "max", "description"} <= set(lv) for lv in levers)
    assert meta["regions"] == [AGGREGATE, *REGIONS]
    names = {i["name"]: i for i in meta["indicators"]}
    assert set(names) == {o.name for o in OUTPUT_VARIABLES}
    assert names["rural_income_per_capita"]["unit"] == "yuan/(person*year)"
    files = {s["file"]: s for s in meta["scenarios"]}
    assert set(files) == {"baseline.yaml", "push.yaml", "broken.yaml"}
    assert files["broken.yaml"]["error"] and "no_such_lever" in files["broken.yaml"]["error"]
    assert files["push.yaml"]["levers"]["infrastructure_investment"]["regions"]["Tibet"] == {
        "strength": 0.08,
        "start": 2018.0,
    }
    assert meta["baseline"] == "baseline.yaml"
    assert meta["ensemble"]["scenarios"] == ["baseline"]


def test_page_and_assets_are_local(server):
    status, headers, page = call(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    text = page.decode()
    assert "https://" not in text and "http://" not in text
    for asset, ctype in (("explorer.js", "text/javascript"), ("explorer.css", "text/css")):
        status, headers, body = call(server, "GET", f"/static/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(ctype) and body
        assert b"https://" not in body
        assert f"/static/{asset}" in text
    status, _, body = call(server, "HEAD", "/")
    assert status == 200 and body == b""


def test_run_lever_moves_the_series(server):
    base = run(
        server, scenario="baseline.yaml", region="Wulingshan", indicator="infrastructure_capital"
    )
    more = run(
        server,
        scenario="baseline.yaml",
        levers={"infrastructure_investment": 0.1},
        region="Wulingshan",
        indicator="infrastructure_capital",
    )
    assert [s["role"] for s in more["series"]] == ["baseline", "edited"]
    edited, baseline = series(more, "edited"), series(more, "baseline")
    assert edited["years"] == list(range(2010, 2051))
    assert baseline["values"] == series(base, "edited")["values"]  # no edit = the file
    # more infrastructure investment from 2015: same before, more capital after
    assert edited["values"][:5] == baseline["values"][:5]
    assert edited["values"][-1] > 1.5 * baseline["values"][-1]
    rows = {r["role"]: r for r in more["summary"]["rows"]}
    assert (
        rows["edited"]["cumulative_policy_cost"] > 0 == rows["baseline"]["cumulative_policy_cost"]
    )
    assert more["unit"] == "yuan"
    assert more["levers"]["infrastructure_investment"]["strength"] == 0.1
    assert more["timing_ms"]["total"] >= more["timing_ms"]["model"] >= 0


def test_run_sends_display_units_titles_and_colours(server):
    """Values stay in model units; the page gets how to show them and each scenario's colour."""
    ans = run(server, scenario="baseline.yaml", indicator="urbanization_rate")
    disp = SPEC.display("urbanization_rate")
    assert ans["display"] == {
        "label": disp.label,
        "unit": "%",
        "scale": 100.0,
        "delta_unit": "percentage points",
    }
    assert ans["cost_display"] == {"unit": "billion yuan (2010 prices)", "scale": 1e-9}
    base = series(ans, "baseline")
    assert base["color"] == BASELINE_COLOR and base["title"] == "Baseline (no new policy)"
    # the cumulative cost itself as the indicator (it is also the summary's cost column)
    cost = run(server, scenario="baseline.yaml", indicator=SPEC.cumulative_cost)
    assert cost["display"]["unit"] == "billion yuan (2010 prices)"
    row = cost["summary"]["rows"][0]
    assert row["cumulative_policy_cost"] == series(cost, "edited")["values"][-1]


def test_observed_points_and_bands(server):
    ans = run(server, scenario="baseline.yaml", region=AGGREGATE, indicator="poverty_incidence")
    assert ans["observed"] == [
        {
            "year": 2012,
            "value": 0.244,
            "area": "14 regions",
            "kind": "aggregate",
            "source": "Section 3.1",
            "role": "not fitted",  # the server runs with the .mdl defaults: no calibration
        }
    ]
    ans = run(server, scenario="baseline.yaml", region="Wulingshan", indicator="urbanization_rate")
    kinds = {(p["area"], p["kind"]) for p in ans["observed"]}
    # Wulingshan's 2010 rate (Table 1, 31.88 %) is a model input: reproduced by construction,
    # never drawn; its prefectures' 2012 rates are
    assert ("Wulingshan", "region") not in kinds and ("Enshi", "sub-area") in kinds
    assert {p["year"] for p in ans["observed"]} == {2012}
    assert {p["role"] for p in ans["observed"]} == {"not fitted"}
    bands = ans["bands"]
    assert bands["scenario"] == "baseline" and len(bands["years"]) == 41
    assert all(a <= b for a, b in zip(bands["p05"], bands["p95"], strict=True))
    assert run(server, scenario="baseline.yaml", indicator="gdp")["bands"] is None


def test_saved_scenario_runs_unchanged_with_the_cli(server, scen_dir, tmp_path, model):
    levers = {
        "infrastructure_investment": {"strength": 0.12},
        "social_security_target": {"strength": 0.7, "start": 2020, "ramp_years": 2},
    }
    req = {"scenario": "push.yaml", "levers": levers, "region": "Tibet", "indicator": "gdp"}
    ans = run(server, **req)
    assert [s["role"] for s in ans["series"]] == ["baseline", "start", "edited"]
    status, headers, text = call(server, "POST", "/api/scenario", {**req, "name": "push more"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/x-yaml")
    assert headers["Content-Disposition"] == 'attachment; filename="push-more.yaml"'
    doc = yaml.safe_load(text)
    assert "extends" not in doc and doc["name"] == "push more"
    infra = doc["levers"]["infrastructure_investment"]
    # the edited strength applies everywhere; Tibet keeps its own start year
    assert infra["strength"] == 0.12 and infra["regions"] == {"Tibet": {"start": 2018.0}}
    assert doc["levers"]["hukou_reform"]["strength"] == 0.3
    assert doc["parameters"]["initial_migrant_share_of_rural_workforce"]["Wulingshan"] == 0.38
    saved = tmp_path / "push-more.yaml"
    saved.write_bytes(text)
    scen = load_scenario(saved, model)
    assert scen.levers["social_security_target"].start == 2020
    out = tmp_path / "run"
    assert "# Run with: sdplanner run THIS_FILE --out DIR --no-params" in text.decode()
    assert main(["run", str(saved), "--out", str(out), "--engine", "batch", "--no-params"]) == 0
    df = pd.read_csv(out / "results.csv")
    got = df[(df.region == "Tibet") & (df.variable == "gdp")].sort_values("year")
    np.testing.assert_allclose(got.value, series(ans, "edited")["values"], rtol=1e-12)
    assert set(df.scenario) == {"push more"}


def test_csv_download(server):
    req = {"scenario": "baseline.yaml", "levers": {"hukou_reform": 0.5}, "region": AGGREGATE}
    ans = run(server, **req)
    status, headers, body = call(server, "POST", "/api/csv", {**req, "name": "hukou half"})
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="results-hukou-half.csv"' in headers["Content-Disposition"]
    df = pd.read_csv(io.BytesIO(body))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.scenario) == {"baseline", "hukou half"}
    got = df[(df.scenario == "hukou half") & (df.region == AGGREGATE)]
    got = got[got.variable == "urbanization_rate"].sort_values("year")
    np.testing.assert_allclose(got.value, series(ans, "edited")["values"], rtol=1e-12)
    status, _, body = call(server, "POST", "/api/csv", {**req, "name": "baseline"})
    assert status == 400 and b"different from the other scenarios" in body


# ---- bad input -------------------------------------------------------------------------------
def _body(**over):
    body = {"scenario": "baseline.yaml", "levers": {}, "region": AGGREGATE}
    body.update(over)
    return body


BAD_JSON = [
    # (id, raw body, status, words in the message)
    ("malformed", b'{"scenario": ', 400, "malformed JSON at line 1"),
    ("array", b"[1, 2]", 400, "expected a JSON object, found an array"),
    ("nan", b'{"scenario": "baseline.yaml", "levers": {"hukou_reform": NaN}}', 400, "NaN"),
    (
        "infinity",
        b'{"scenario": "baseline.yaml", "levers": {"hukou_reform": -Infinity}}',
        400,
        "finite",
    ),
    (
        "huge-float",
        b'{"scenario": "baseline.yaml", "levers": {"hukou_reform": 1e999}}',
        400,
        "too large",
    ),
    (
        "huge-int",
        b'{"scenario": "baseline.yaml", "levers": {"hukou_reform": 1' + b"0" * 400 + b"}}",
        400,
        "too large",
    ),
    ("too-many-digits", b'{"levers": {"hukou_reform": ' + b"9" * 5000 + b"}}", 400, "JSON numbers"),
    ("deep", b"[" * 30000 + b"]" * 30000, 400, "nested"),
    ("not-utf8", b'{"scenario": "\xff\xfe"}', 400, "UTF-8"),
    ("empty", b"", 400, "malformed JSON"),
]


@pytest.mark.parametrize(
    ("raw", "status", "words"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON]
)
def test_bad_json(server, raw, status, words):
    code, headers, data = call(server, "POST", "/api/run", raw=raw)
    assert code == status
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(data)
    assert answer["status"] == status and words in answer["error"]


BAD_FIELDS = [
    (
        "out-of-range",
        _body(levers={"infrastructure_investment": 0.3}),
        400,
        "levers.infrastructure_investment: expected a strength (share of GDP) in 0..0.2, found 0.3",
    ),
    ("negative", _body(levers={"hukou_reform": -0.1}), 400, "in 0..1, found -0.1"),
    (
        "unknown-lever",
        _body(levers={"infrastructure_investmnt": 0.1}),
        400,
        "unknown lever (did you mean 'infrastructure_investment'?)",
    ),
    ("string-strength", _body(levers={"hukou_reform": "0.5"}), 400, 'found "0.5"'),
    ("bool-strength", _body(levers={"hukou_reform": True}), 400, "found true"),
    ("null-strength", _body(levers={"hukou_reform": None}), 400, "found null"),
    ("levers-list", _body(levers=[1, 2]), 400, "levers: expected an object"),
    (
        "unknown-field",
        _body(levers={"hukou_reform": {"strenght": 0.5}}),
        400,
        "did you mean 'strength'",
    ),
    ("regions", _body(levers={"hukou_reform": {"regions": {"Tibet": 1}}}), 400, "per-region"),
    (
        "start-early",
        _body(levers={"hukou_reform": {"start": 1990}}),
        400,
        "a start year in 2010..2050",
    ),
    ("ramp-negative", _body(levers={"hukou_reform": {"ramp_years": -1}}), 400, "0..100"),
    ("unknown-scenario", _body(scenario="nope.yaml"), 400, "unknown scenario"),
    ("traversal", _body(scenario="../../etc/passwd"), 400, "unknown scenario"),
    ("scenario-type", _body(scenario=["baseline.yaml"]), 400, "found an array"),
    ("no-scenario", {"levers": {}}, 400, "scenario: expected a scenario file name, found none"),
    ("invalid-file", _body(scenario="broken.yaml"), 422, "broken.yaml is invalid"),
    ("region", _body(region="Wulingshn"), 400, "did you mean 'Wulingshan'"),
    ("region-type", _body(region=5), 400, "region: expected"),
    ("indicator", _body(indicator="urbanisation_rate"), 400, "did you mean 'urbanization_rate'"),
    ("unknown-key", _body(levrs={}), 400, "unknown key 'levrs' (did you mean 'levers'?)"),
    ("long-string", _body(scenario="x" * 5000), 400, '..."'),
]


@pytest.mark.parametrize(
    ("body", "status", "words"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_bad_fields(server, body, status, words):
    code, _, data = call(server, "POST", "/api/run", body)
    answer = json.loads(data)
    assert code == status, answer
    assert words in answer["error"]
    assert len(answer["error"]) < 450  # one line, even listing the 14 levers


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "a\x00b"}, "control characters"),
        ({"name": 7}, "name: expected a string"),
        ({"name": "  "}, "non-empty"),
        ({"description": ["no"]}, "description: expected a string"),
    ],
)
def test_bad_scenario_requests(server, extra, words):
    code, _, data = call(server, "POST", "/api/scenario", _body(**extra))
    assert code == 400 and words in json.loads(data)["error"]


def test_http_level_refusals(server):
    big = b'{"x": "' + b"a" * 200_000 + b'"}'
    cases = [
        (("POST", "/api/run"), {"raw": big}, 413, "at most 65536 bytes"),
        (
            ("POST", "/api/run"),
            {"raw": b"{}", "headers": {"Content-Type": "text/plain"}},
            415,
            "application/json",
        ),
        (("GET", "/api/run"), {}, 405, "expects POST"),
        (("POST", "/api/meta"), {"body": {}}, 405, "expects GET"),
        (("PUT", "/api/run"), {"body": {}}, 405, "expects"),
        (("DELETE", "/"), {}, 405, "expects GET"),
        (("BREW", "/api/run"), {}, 405, "expects"),
        (("GET", "/api/nope"), {}, 404, "no such page"),
        (("GET", "/static/../explorer.py"), {}, 404, "no such page"),
        (("GET", "/api/meta"), {"headers": {"Host": "evil.example:80"}}, 403, "Host"),
    ]
    for (method, path), kwargs, status, words in cases:
        code, _, data = call(server, method, path, **kwargs)
        assert code == status, (method, path, data)
        assert words in json.loads(data)["error"], data


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (b"garbage\r\n\r\n", 400, b"request"),
        (b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 400, b"request"),
        (
            b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n",
            411,
            b"Content-Length",
        ),
        (
            b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            411,
            b"Transfer-Encoding",
        ),
        (
            b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: -5\r\n\r\n",
            400,
            b"Content-Length",
        ),
        (
            b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"scenario"',
            400,
            b"expected 100 bytes, found 11",
        ),
    ],
    ids=["garbage", "http2", "no-length", "chunked", "negative-length", "short-body"],
)
def test_raw_socket_refusals(server, payload, status, words):
    answer = raw_exchange(server, payload, half_close=True)
    assert answer.startswith(f"HTTP/1.0 {status} ".encode()), answer[:200]
    assert words in answer


def test_server_still_alive_after_bad_input(server):
    test_http_level_refusals(server)
    status, _, _ = call(server, "GET", "/api/meta")
    assert status == 200
    ans = run(
        server,
        scenario="baseline.yaml",
        levers={"hukou_reform": 0.2},
        indicator="urbanization_rate",
    )
    assert len(series(ans, "edited")["values"]) == 41


def test_serve_command_refuses_bad_options(tmp_path, capsys, scen_dir):
    assert main(["serve", "--scenarios", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sdplanner: error: ") and "expected a folder of scenario files" in err
    assert len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--scenarios", str(scen_dir), "--port", str(port), "--quiet"]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_observed_roles_follow_the_calibration_in_use(scen_dir):
    """With the shipped calibration, the API draws every row it compared, with its role, on
    the model's scale (the history pack's too), and drops its anchors."""
    import csv

    from sdplanner.web import Explorer, make_server, serve_in_thread

    from .conftest import ROOT

    record = ROOT / "calibration" / "history-2010-2015" / "observations.csv"
    with open(record, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    explorer = Explorer(scen_dir, engine="batch")
    srv = make_server(explorer, "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(srv)
    try:
        status, _, data = call(srv, "GET", "/api/meta")
        assert status == 200
        meta = json.loads(data)
        assert meta["observed"]["calibration"] == "history-2010-2015"
        assert meta["observed"]["labels"] == {
            "fitted": "observed, used in the fit",
            "not fitted": "observed, not used in the fit",
        }
        anchors = sum(r["role"] == "anchor" for r in rows)
        assert anchors == 11  # prefectures alone in their offset groups, seed's and pack's
        assert meta["observed"]["left_out"] == {
            "reproduced by construction": 13,
            "anchor": anchors,
        }

        def model_scale(r):  # the record's row as the calibration compared it
            return (float(r["observed"]) - float(r["offset"])) / float(r["factor"])

        income = run(srv, scenario="baseline.yaml", indicator="rural_income_per_capita")
        assert [(p["year"], p["role"]) for p in income["observed"]] == [
            (2010, "fitted"),  # the pack's net income, 2010 yuan
            (2012, "fitted"),  # the seed's 4,839 current yuan, deflated
            (2014, "fitted"),  # the pack's disposable income, deflated and on the net basis
            (2015, "fitted"),
        ]
        poverty = run(srv, scenario="baseline.yaml", indicator="poverty_incidence")
        pack = {
            int(r["year"]): model_scale(r)
            for r in rows
            if r["indicator"] == "contiguous_areas_poverty_incidence"
        }
        got = {p["year"]: (p["value"], p["role"], p["area"]) for p in poverty["observed"]}
        assert sorted(got) == sorted(pack) == [2011, 2012, 2013, 2014, 2015]
        for year, value in pack.items():
            # the same division of the same two floats: equal to the last bit or two
            assert got[year][0] == pytest.approx(value, rel=1e-12)
            assert got[year][1:] == ("fitted", "14 contiguous poor areas")
        assert got[2015][0] == pytest.approx(0.139, rel=1e-12)  # 13.9 % as a fraction
        poor = run(srv, scenario="baseline.yaml", indicator="rural_poor_population")
        assert {(p["year"], p["role"]) for p in poor["observed"]} == {
            (y, "not fitted") for y in range(2011, 2016)
        }  # compared, not fitted
        phones = run(
            srv,
            scenario="baseline.yaml",
            region="Wulingshan",
            indicator="telephones_per_100_people",
        )
        fitted = {
            (r["area"], int(r["data_year"]))
            for r in rows
            if r["indicator"] == "telephones_per_100_people" and r["role"] == "fitted"
        }
        got = {(p["area"], p["year"]) for p in phones["observed"] if p["role"] == "fitted"}
        assert got == fitted and len(fitted) == 3
        urb = run(srv, scenario="baseline.yaml", region="Wulingshan", indicator="urbanization_rate")
        # Table 1's rate is an input and the prefectures' 2012 rates are anchors: the only
        # points are Tongren's census change, fitted, shifted by its offset onto the region
        tongren = {
            int(r["year"]): model_scale(r)
            for r in rows
            if r["area"] == "Tongren (Guizhou)" and r["role"] == "fitted"
        }
        assert {p["year"]: p["value"] for p in urb["observed"]} == pytest.approx(tongren)
        assert {(p["area"], p["kind"], p["role"]) for p in urb["observed"]} == {
            ("Tongren (Guizhou)", "sub-area", "fitted")
        }
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
