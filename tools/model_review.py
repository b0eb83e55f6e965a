"""Review the shipped model against the done-when figures of issues 14 and 15.

Computes (``review()``, one dict per section) and prints, from runs of the batch engine (C
kernel) with the shipped calibration layered under each scenario (as ``sdplanner run`` does):

1. bounds in every shipped scenario, 2010-2050, every region: the largest ratio of a
   per-capita variable to its 2010 value, rural income per rural resident against GDP per
   resident, and rural income in 2050;
2. conservation of people (the seven population stocks against Population Balance);
3. hukou reform alone (strength 0.5 from 2015): the largest relative change of rural income
   per rural resident, and the rise of registered and resident urbanization;
4. continuity: outside wage growth 0.07, then 0.03 from 2021, the largest
   ``|x(2021)/x(2020) - x(2020)/x(2019)|`` over every stock and region;
5. the targeted poverty levers: the year 14-region poverty falls below 0.5 %, the cost per
   person lifted, and that a lever at 0 changes nothing;
6. demography against the UN World Population Prospects 2015 (medium variant, China);
7. saturation: job availability, crowding, infrastructure adequacy (every lever at its
   maximum as well);
8. halving TIME STEP: the largest relative change of a reported output;
9. the 2010-2015 fit against ``../shared/data/history_2010_2015.csv`` figures (copied here);
10. the effect of each path on the headline indicators in 2030 and 2050, and its ranking.

Usage::

    python tools/model_review.py [--no-params] [--section N ...]

Figures only, no assertions: the tests in ``tests/test_model2_*.py`` hold the limits.
``tools/docs_numbers.py`` (family ``review``) quotes them in docs/model.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sdplanner.engine.base import TimeSeries
from sdplanner.engine.batch import BatchEngine
from sdplanner.model import load_model
from sdplanner.run import prepare_run

SPEC = load_model().spec
LEVERS = SPEC.levers
PATHS = SPEC.paths
OUTPUT_VARIABLES = SPEC.outputs

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

#: UN World Population Prospects 2015 revision, medium variant, China (thousands):
#: 2010 1,340,969; 2030 1,415,545 (the peak, about 2028-2030); 2050 1,348,056.
WPP2015_CHINA = {2010: 1_340_969, 2030: 1_415_545, 2050: 1_348_056}

#: 2010-2015 figures of the history pack (current yuan) and their rural price index
#: (the poverty line at current prices: 2,300 in 2010 ... 2,855 in 2015).
POVERTY_LINE_CURRENT = {2010: 2300, 2011: 2536, 2012: 2625, 2013: 2736, 2014: 2800, 2015: 2855}
INCOME_14 = {2012: (4839, "net"), 2014: (6724, "disposable"), 2015: (7525, "disposable")}
POVERTY_14 = {2011: 29.0, 2012: 24.4, 2013: 20.0, 2014: 17.1, 2015: 13.9}
REGISTERED_URBANIZATION_2012 = 100 - 84.7  # seed: 84.7 % rural on the registration basis


def per_capita_variables(engine: BatchEngine) -> list[str]:
    """Auxiliaries and stocks measured per person (yuan/person or yuan/(person*year))."""
    out = []
    for py, var in engine.ir.variables.items():
        unit = engine.info.variables[py].units.replace(" ", "")
        if var.kind != "constant" and ("/person" in unit or "/(person" in unit):
            out.append(py)
    return sorted(out)


class Reviewer:
    """Runs scenarios once and keeps their outputs."""

    def __init__(self, params: bool):
        self.engine = BatchEngine.from_mdl(kernel="c")
        self.info = self.engine.info
        self.regions = list(self.info.elements)
        self.use_params = None if params else False
        self._cache: dict[str, dict] = {}

    def base_params(self, scenario: str = "baseline") -> dict:
        """Parameters of a shipped scenario with the shipped calibration under it."""
        inputs = prepare_run(
            SCENARIOS / f"{scenario}.yaml", model=self.info, params=self.use_params
        )
        return dict(inputs.params)

    def run(self, params: dict, **kw):
        """Run and return (times, values)."""
        out = self.engine.run(params, **kw)
        return list(out.times), out.values

    def scenario(self, name: str):
        """Return the outputs of a shipped scenario (cached)."""
        if name not in self._cache:
            self._cache[name] = self.run(self.base_params(name))
        return self._cache[name]


def weighted(values: dict, name: str, weight: str) -> np.ndarray:
    """14-region mean of ``name`` weighted by ``weight`` (per saved year)."""
    w = values[weight]
    return (values[name] * w).sum(axis=1) / w.sum(axis=1)


def shipped_scenarios() -> list[str]:
    """Names of the shipped scenario files."""
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def section_bounds(rv: Reviewer) -> dict:
    """Return section 1: per-capita ratios, income against GDP, income in 2050.

    Returns
    -------
    dict
        ``per_capita``: the variables checked; ``scenarios``: per shipped scenario,
        ``max_ratio`` (largest value / its 2010 value, dimensionless) with its ``variable``,
        ``region`` (``None`` when unsubscripted) and ``year``; ``income_to_gdp`` (largest rural
        income per rural resident / GDP per resident); ``income_2050`` (largest rural income
        per rural resident in 2050, yuan/(person*year), 2010 prices).
    """
    pcs = per_capita_variables(rv.engine)
    out = {}
    for name in shipped_scenarios():
        t, v = rv.scenario(name)
        worst = {"max_ratio": 0.0, "variable": "", "region": None, "year": None}
        for py in pcs:
            x = v[py]
            x0 = x[0]
            ok = np.abs(x0) > 1e-9
            if x.ndim == 1:
                if not ok:
                    continue
                r = x / x0
                k = int(np.argmax(r))
                if r[k] > worst["max_ratio"]:
                    worst = {"max_ratio": float(r[k]), "variable": py, "region": None, "year": t[k]}
            else:
                with np.errstate(all="ignore"):
                    r = np.where(ok, x / np.where(ok, x0, 1), 0)
                k = np.unravel_index(int(np.argmax(r)), r.shape)
                if r[k] > worst["max_ratio"]:
                    worst = {
                        "max_ratio": float(r[k]),
                        "variable": py,
                        "region": rv.regions[k[1]],
                        "year": t[k[0]],
                    }
        ratio = float((v["rural_income_per_capita"] / v["gdp_per_capita"]).max())
        inc2050 = float(v["rural_income_per_capita"][t.index(2050.0)].max())
        out[name] = {**worst, "income_to_gdp": ratio, "income_2050": inc2050}
    return {"per_capita": pcs, "scenarios": out}


def show_bounds(d: dict) -> None:
    """Print section 1."""
    print("== 1. Bounds, every shipped scenario, 2010-2050, every region")
    print(f"per-capita variables checked ({len(d['per_capita'])}): {', '.join(d['per_capita'])}")
    print(
        f"{'scenario':38s} {'max x/x2010':>11s} {'variable, region, year':48s}"
        f" {'max inc/gdppc':>13s} {'max inc 2050':>12s}"
    )
    for name, s in d["scenarios"].items():
        where = f"{s['variable']}, {s['region'] or '-'}, {s['year']:.0f}"
        print(
            f"{name:38s} {s['max_ratio']:11.2f} {where:48s} {s['income_to_gdp']:13.3f}"
            f" {s['income_2050']:12,.0f}"
        )
    print()


def section_conservation(rv: Reviewer) -> dict:
    """Return section 2: ``max_error``, the largest relative error of people, every scenario.

    The registered population (the seven population stocks) against Population Balance
    (dimensionless).
    """
    worst = 0.0
    for name in shipped_scenarios():
        _, v = rv.scenario(name)
        total = v["registered_population"]
        worst = max(
            worst, float(np.max(np.abs(total - v["population_balance"]) / v["population_balance"]))
        )
    return {"max_error": worst}


def show_conservation(d: dict) -> None:
    """Print section 2."""
    print("== 2. Conservation of people (seven stocks vs Population Balance), every scenario")
    print(f"largest relative error: {d['max_error']:.2e}")
    print()


def section_hukou(rv: Reviewer) -> dict:
    """Return section 3: hukou reform alone (strength 0.5 from 2015).

    Returns
    -------
    dict
        ``income_change``: the largest relative change of rural income per rural resident
        (dimensionless) with its ``region`` and ``year``; ``years``: per year 2020, 2030 and
        2050, the rise of ``registered`` and ``resident`` urbanization (points, 14 regions) and
        the reform's ``cost`` (billion yuan/year, 2010 prices).
    """
    base = rv.base_params()
    t, v0 = rv.run(base)
    _, v1 = rv.run({**base, "hukou_reform_strength": 0.5, "hukou_reform_start": 2015.0})
    rel = np.abs(v1["rural_income_per_capita"] / v0["rural_income_per_capita"] - 1)
    k = np.unravel_index(int(np.argmax(rel)), rel.shape)
    years = {}
    for year in (2020, 2030, 2050):
        i = t.index(float(year))
        reg = 100 * (
            weighted(v1, "registered_urbanization_rate", "registered_population")[i]
            - weighted(v0, "registered_urbanization_rate", "registered_population")[i]
        )
        res0 = weighted(v0, "urbanization_rate", "resident_population")[i]
        res1 = weighted(v1, "urbanization_rate", "resident_population")[i]
        years[year] = {
            "registered": float(reg),
            "resident": float(100 * (res1 - res0)),
            "cost": float(v1["cost_hukou_reform"][i].sum() / 1e9),
        }
    return {
        "income_change": float(rel[k]),
        "region": rv.regions[k[1]],
        "year": t[k[0]],
        "years": years,
    }


def show_hukou(d: dict) -> None:
    """Print section 3."""
    print("== 3. Hukou reform alone (strength 0.5 from 2015, 5-year ramp)")
    print(
        f"largest relative change of rural income per rural resident:"
        f" {100 * d['income_change']:.3f} % ({d['region']}, {d['year']:.0f})"
    )
    for year, y in d["years"].items():
        print(
            f"{year}: registered urbanization +{y['registered']:.2f} points, resident"
            f" urbanization {y['resident']:+.2f} points, cost {y['cost']:.1f} bn yuan/year"
        )
    print()


def section_continuity(rv: Reviewer) -> dict:
    """Return section 4: ``jump``, the largest ``|x(2021)/x(2020) - x(2020)/x(2019)|``.

    Outside wage growth 0.07, then 0.03 from 2021; over every stock and region
    (dimensionless), with the ``stock`` it occurs in.
    """
    series = TimeSeries(np.array([2010.0, 2020.999, 2021.0]), np.array([0.07, 0.07, 0.03]))
    t, v = rv.run({**rv.base_params(), "outside_wage_growth": series})
    a, b, c = t.index(2019.0), t.index(2020.0), t.index(2021.0)
    worst = (0.0, "")
    for py in rv.info.stocks:
        x = v[py]
        with np.errstate(all="ignore"):
            d = np.nan_to_num(np.abs(x[c] / x[b] - x[b] / x[a]))
        if np.max(d) > worst[0]:
            worst = (float(np.max(d)), py)
    return {"jump": worst[0], "stock": worst[1]}


def show_continuity(d: dict) -> None:
    """Print section 4."""
    print("== 4. Continuity: outside wage growth 0.07, then 0.03 from 2021")
    print(f"largest |x(2021)/x(2020) - x(2020)/x(2019)|: {d['jump']:.4f} ({d['stock']})")
    print()


def targeted_params(base: dict, strength: float, start: float = 2015.0) -> dict:
    """Return parameters with the three targeted levers (relocation at 0.3 x strength a year)."""
    return {
        **base,
        "targeted_transfers_strength": strength,
        "development_aid_strength": strength,
        "poverty_relocation_strength": 0.3 * strength,
        "targeted_transfers_start": start,
        "development_aid_start": start,
        "poverty_relocation_start": start,
    }


def section_targeted(rv: Reviewer) -> dict:
    """Return section 5: the targeted poverty levers from 2015.

    Returns
    -------
    dict
        ``zero_is_baseline``: the levers at 0 give the baseline exactly; ``baseline_2020``:
        14-region poverty incidence in 2020 (share); ``strengths``: per strength,
        ``poverty_2020`` (share), ``below_from`` (first year below 0.5 %, or ``None``),
        ``cost_2020`` (billion yuan/year) and ``cost_per_person`` (yuan per person lifted).
    """
    base = rv.base_params()
    t, v0 = rv.run(base)
    _, vz = rv.run(targeted_params(base, 0.0))
    same = all(
        np.array_equal(v0[k], vz[k]) for k in ("poverty_incidence", "rural_income_per_capita")
    )
    i20 = t.index(2020.0)
    strengths = {}
    for s in (0.25, 0.5, 1.0):
        _, v = rv.run(targeted_params(base, s))
        pov = weighted(v, "poverty_incidence", "rural_population")
        below = [y for y, p in zip(t, pov, strict=True) if y >= 2015 and p < 0.005]
        cost = float(v["targeted_poverty_cost"][i20].sum())
        lifted = float(v["people_lifted_by_targeted_policy"][i20].sum())
        strengths[s] = {
            "poverty_2020": float(pov[i20]),
            "below_from": below[0] if below else None,
            "cost_2020": cost / 1e9,
            "cost_per_person": cost / max(lifted, 1),
        }
    baseline = float(weighted(v0, "poverty_incidence", "rural_population")[i20])
    return {"zero_is_baseline": same, "baseline_2020": baseline, "strengths": strengths}


def show_targeted(d: dict) -> None:
    """Print section 5."""
    print("== 5. Targeted poverty alleviation (transfers, development aid, relocation), from 2015")
    print(f"levers at 0 give the baseline exactly: {d['zero_is_baseline']}")
    for s, x in d["strengths"].items():
        below = (
            f"below 0.5 % from {x['below_from']:.0f}" if x["below_from"] else "never below 0.5 %"
        )
        print(
            f"strength {s:4.2f}: 14-region poverty 2020 {100 * x['poverty_2020']:.2f} %"
            f" (baseline {100 * d['baseline_2020']:.2f} %), {below}; 2020 cost"
            f" {x['cost_2020']:.1f} bn yuan, {x['cost_per_person']:,.0f} yuan per person lifted"
        )
    print()


def section_demography(rv: Reviewer) -> dict:
    """Return section 6: population against the UN 2015 projection, ageing (baseline).

    Returns
    -------
    dict
        ``years``: per 2030 and 2050, the ratio to 2010 of ``residents``, ``registered`` and
        the UN's ``wpp``; ``max_residents`` (largest ratio over 2010-2050);
        ``working_age``: the rural working-age share (dimensionless) in 2010, 2030 and 2050;
        ``birth`` and ``death``: crude rates per 1,000 residents in 2010 and 2050.
    """
    t, v = rv.scenario("baseline")
    res = v["resident_population"].sum(axis=1)
    reg = v["registered_population"].sum(axis=1)
    years = {}
    for year in (2030, 2050):
        i = t.index(float(year))
        years[year] = {
            "residents": float(res[i] / res[0]),
            "registered": float(reg[i] / reg[0]),
            "wpp": WPP2015_CHINA[year] / WPP2015_CHINA[2010],
        }
    ws = weighted(v, "rural_working_age_share", "rural_population")
    i50 = t.index(2050.0)
    cbr = (v["crude_birth_rate"] * v["resident_population"]).sum(1) / res
    cdr = (v["crude_death_rate"] * v["resident_population"]).sum(1) / res
    return {
        "years": years,
        "max_residents": float(res.max() / res[0]),
        "working_age": {y: float(ws[t.index(float(y))]) for y in (2010, 2030, 2050)},
        "birth": {2010: float(1000 * cbr[0]), 2050: float(1000 * cbr[i50])},
        "death": {2010: float(1000 * cdr[0]), 2050: float(1000 * cdr[i50])},
    }


def show_demography(d: dict) -> None:
    """Print section 6."""
    print("== 6. Demography (baseline) against UN WPP 2015 medium variant, China")
    for year, y in d["years"].items():
        print(
            f"{year}: residents x{y['residents']:.3f}, registered x{y['registered']:.3f};"
            f" WPP 2015 China x{y['wpp']:.3f}"
        )
    print(f"largest resident ratio to 2010 over 2010-2050: x{d['max_residents']:.3f}")
    ws = d["working_age"]
    print(
        f"rural working-age share: {ws[2010]:.3f} (2010) -> {ws[2030]:.3f} (2030)"
        f" -> {ws[2050]:.3f} (2050)"
    )
    print(
        f"crude birth rate per 1,000: {d['birth'][2010]:.1f} (2010) -> {d['birth'][2050]:.1f}"
        f" (2050); crude death rate {d['death'][2010]:.1f} -> {d['death'][2050]:.1f}"
    )
    print()


#: The saturating effects section 7 reports, every lever at its maximum.
EFFECTS = (
    "effect_of_infrastructure_on_non_farm_productivity",
    "effect_of_infrastructure_on_town_attractiveness",
    "effect_of_infrastructure_on_industry_transfer",
    "effect_of_agglomeration_on_productivity",
)
#: Section 7's name of the run with every lever at its maximum.
MAXED = "(every lever at its maximum)"


def section_saturation(rv: Reviewer) -> dict:
    """Return section 7: job availability, crowding, infrastructure adequacy.

    Returns
    -------
    dict
        ``scenarios``: per shipped scenario and ``MAXED`` (every lever at its maximum), the
        largest ``job_availability`` and ``crowding`` ratios, the smallest
        ``crowding_effect`` on settlement with its ``crowding_effect_year``, and the largest
        ``infrastructure`` adequacy (ratio to 2010; all dimensionless); ``effects``: the
        largest multiplier of each of ``EFFECTS`` with every lever at its maximum.
    """
    runs = [(n, rv.scenario(n)) for n in shipped_scenarios()]
    maxed = {**rv.base_params()}
    for lever in LEVERS:
        maxed[lever.strength_constant] = lever.maximum
    runs.append((MAXED, rv.run(maxed)))
    out = {}
    for name, (t, v) in runs:
        effect = v["effect_of_crowding_on_settlement"]
        out[name] = {
            "job_availability": float(v["job_availability_ratio"].max()),
            "crowding": float(v["urban_crowding_ratio"].max()),
            "crowding_effect": float(effect.min()),
            "crowding_effect_year": t[int(np.argmin(effect)) // effect.shape[1]],
            "infrastructure": float(v["infrastructure_adequacy"].max()),
        }
    _, vm = runs[-1][1]
    return {"scenarios": out, "effects": {e: float(vm[e].max()) for e in EFFECTS}}


def show_saturation(d: dict) -> None:
    """Print section 7."""
    print("== 7. Saturation and feedback")
    print(
        f"{'scenario':38s} {'max job avail':>13s} {'max crowding':>12s}"
        f" {'min crowd effect':>16s} {'max infra adequacy':>18s}"
    )
    for name, s in d["scenarios"].items():
        print(
            f"{name:38s} {s['job_availability']:13.3f} {s['crowding']:12.3f}"
            f" {s['crowding_effect']:16.3f} {s['infrastructure']:18.2f}"
        )
    print(
        "largest effect multipliers, every lever at its maximum: "
        + ", ".join(f"{e.replace('effect_of_', '')} {x:.3f}" for e, x in d["effects"].items())
    )
    print()


def section_dt(rv: Reviewer) -> dict:
    """Return section 8: the largest change of a reported output when TIME STEP halves.

    Returns
    -------
    dict
        ``time_step`` (year); per ``baseline`` (2010-2050) and ``all-five`` (2021-2050, after
        its ramps): the largest relative ``change`` (dimensionless), its ``output`` and
        ``years``.
    """
    names = [o.name for o in OUTPUT_VARIABLES]
    out = {"time_step": rv.info.time_step}
    for scen in ("baseline", "all-five"):
        p = rv.base_params(scen)
        _, a = rv.run(p)
        _, b = rv.run(p, time_step=rv.info.time_step / 2)
        worst = (0.0, "")
        # lever ramps are read at mid-step (stocks integrate them exactly); the auxiliaries
        # of the ramp years carry a half-step shift that depends on the step by
        # construction: the policy scenario is compared after its ramps (2021-2050)
        keep = slice(None) if scen == "baseline" else slice(11, None)
        for n in names:
            x, y = a[n][keep], b[n][keep]
            scale = np.abs(y)
            if n == "job_gap":
                # a difference of two large numbers that crosses zero: compare with the
                # labour supply it is a gap of
                scale = b["non_farm_labour_supply"][keep]
            if n == "cumulative_net_natural_increase":
                # births minus deaths crosses zero: compare with the population
                scale = b["registered_population"][keep]
            mask = scale > 1e-6
            if not np.any(mask):
                continue
            d = float(np.max(np.abs(x - y)[mask] / scale[mask]))
            if d > worst[0]:
                worst = (d, n)
        years = "2010-2050" if scen == "baseline" else "2021-2050"
        out[scen] = {"change": worst[0], "output": worst[1], "years": years}
    return out


def show_dt(d: dict) -> None:
    """Print section 8."""
    print("== 8. Halving TIME STEP (baseline and all-five, every reported output)")
    for scen in ("baseline", "all-five"):
        s = d[scen]
        print(
            f"{scen} ({s['years']}): TIME STEP {d['time_step']} vs {d['time_step'] / 2}:"
            f" largest relative change {100 * s['change']:.3f} % ({s['output']})"
        )
    print()


#: Section 9's urbanization gains 2010-2015 in the data (points; Tibet, Tongren: census to
#: year end).
URBANIZATION_GAIN = {"Tibet": 27.74 - 22.67, "Wulingshan": 35.04 - 25.99}


def section_fit(rv: Reviewer) -> dict:
    """Return section 9: 2010-2015 against the history pack, baseline and as-happened.

    Returns
    -------
    dict
        ``scenarios``: per scenario, ``income`` (year -> 14-region rural income per rural
        resident, yuan/(person*year), 2010 prices), ``poverty`` (year -> incidence, share),
        ``registered_2012`` (share) and ``gain`` (region -> urbanization gain 2010-2015,
        points); ``data``: the same figures of the pack (income deflated to 2010 prices with
        the poverty-line index, with its ``income_kind``); ``table1_error``: the largest
        absolute difference of 2010 urbanization from Table 1.
    """
    out = {}
    for scen in ("baseline", "as-happened"):
        if not (SCENARIOS / f"{scen}.yaml").exists():
            continue
        t, v = rv.scenario(scen)
        inc = weighted(v, "rural_income_per_capita", "rural_population")
        pov = weighted(v, "poverty_incidence", "rural_population")
        reg = weighted(v, "registered_urbanization_rate", "registered_population")
        u = v["urbanization_rate"]
        i15 = t.index(2015.0)
        out[scen] = {
            "income": {y: float(inc[t.index(float(y))]) for y in INCOME_14},
            "poverty": {y: float(pov[t.index(float(y))]) for y in POVERTY_14},
            "registered_2012": float(reg[t.index(2012.0)]),
            "gain": {
                r: float(100 * (u[i15, rv.regions.index(r)] - u[0, rv.regions.index(r)]))
                for r in URBANIZATION_GAIN
            },
        }
    data = {
        "income": {y: v * 2300 / POVERTY_LINE_CURRENT[y] for y, (v, _) in INCOME_14.items()},
        "income_current": {y: v for y, (v, _) in INCOME_14.items()},
        "income_kind": {y: k for y, (_, k) in INCOME_14.items()},
        "poverty": {y: p / 100 for y, p in POVERTY_14.items()},
        "registered_2012": REGISTERED_URBANIZATION_2012 / 100,
        "gain": dict(URBANIZATION_GAIN),
    }
    _, v = rv.scenario("baseline")
    table1 = rv.engine.ir.variables["urbanization_rate_2010"].value
    error = float(np.max(np.abs(v["urbanization_rate"][0] - table1)))
    return {"scenarios": out, "data": data, "table1_error": error}


def show_fit(d: dict) -> None:
    """Print section 9."""
    print(
        "== 9. 2010-2015 against the history pack"
        " (income deflated to 2010 prices with the poverty-line index)"
    )
    data = d["data"]
    for scen, s in d["scenarios"].items():
        print(f"-- {scen}")
        for year, value in s["income"].items():
            print(
                f"rural income {year}: model {value:,.0f}; data {data['income'][year]:,.0f}"
                f" ({data['income_kind'][year]}, {data['income_current'][year]} current yuan)"
            )
        for year, value in s["poverty"].items():
            print(
                f"poverty incidence {year}: model {100 * value:.1f} %;"
                f" data {100 * data['poverty'][year]:.1f} %"
            )
        print(
            f"registered urbanization 2012: model {100 * s['registered_2012']:.1f} %;"
            f" seed {100 * data['registered_2012']:.1f} %"
        )
        for region, gain in s["gain"].items():
            print(
                f"urbanization gain 2010-2015, {region}: model {gain:+.1f} points;"
                f" data {data['gain'][region]:+.1f} (Tibet, Tongren: census to year end)"
            )
    print(f"2010 urbanization = Table 1 (max abs error): {d['table1_error']:.1e}")
    print()


HEADLINE = (
    ("urbanization_rate", "resident_population", 100, "points", "higher"),
    ("registered_urbanization_rate", "registered_population", 100, "points", "higher"),
    ("rural_income_per_capita", "rural_population", 1, "yuan", "higher"),
    ("poverty_incidence", "rural_population", 100, "points", "lower"),
    ("gdp_per_capita", "resident_population", 1, "yuan", "higher"),
)


def section_ranking(rv: Reviewer) -> dict:
    """Return section 10: each path's effects against the baseline and the ranking of paths.

    Returns
    -------
    dict
        Per year 2030 and 2050: ``effects`` (scenario -> the effects on ``HEADLINE``'s
        indicators, in their units, and ``cost``, cumulative billion yuan) and ``ranks``
        (indicator -> the single paths, best first).
    """
    t, v0 = rv.scenario("baseline")
    paths = [n for n in shipped_scenarios() if n.startswith("path-")] + ["all-five"]
    out = {}
    for year in (2030, 2050):
        i = t.index(float(year))
        table = {}
        for name in paths:
            _, v = rv.scenario(name)
            row = [
                float(scale * (weighted(v, var, w)[i] - weighted(v0, var, w)[i]))
                for var, w, scale, _, _ in HEADLINE
            ]
            cost = float(v["cumulative_policy_cost_all_regions"][i] / 1e9)
            table[name] = {"effects": row, "cost": cost}
        singles = [n for n in paths if n != "all-five"]
        ranks = {
            var: sorted(
                singles, key=lambda n, j=j: table[n]["effects"][j], reverse=(better == "higher")
            )
            for j, (var, _, _, _, better) in enumerate(HEADLINE)
        }
        out[year] = {"effects": table, "ranks": ranks}
    return out


def show_ranking(d: dict) -> None:
    """Print section 10."""
    print("== 10. Effect of each path against the baseline (14 regions) and its rank")
    for year, y in d.items():
        print(f"-- {year}")
        print(
            f"{'scenario':40s}"
            + "".join(f"{h[0][:22]:>24s}" for h in HEADLINE)
            + f"{'cum. cost bn':>14s}"
        )
        for name, row in y["effects"].items():
            print(
                f"{name:40s}"
                + "".join(f"{x:24.3f}" for x in row["effects"])
                + f"{row['cost']:14.0f}"
            )
        for var, _, _, unit, _ in HEADLINE:
            order = y["ranks"][var]
            print(f"rank by {var} ({unit}): " + " > ".join(n.replace("path-", "") for n in order))
    print()


#: Section number -> (the function computing its figures, the function printing them).
SECTIONS = {
    1: (section_bounds, show_bounds),
    2: (section_conservation, show_conservation),
    3: (section_hukou, show_hukou),
    4: (section_continuity, show_continuity),
    5: (section_targeted, show_targeted),
    6: (section_demography, show_demography),
    7: (section_saturation, show_saturation),
    8: (section_dt, show_dt),
    9: (section_fit, show_fit),
    10: (section_ranking, show_ranking),
}


def review(sections=None, *, params: bool = True, reviewer: Reviewer | None = None) -> dict:
    """Return the figures of the review, section number -> that section's dict.

    Parameters
    ----------
    sections : iterable of int, optional
        The sections to compute (default: all of ``SECTIONS``).
    params : bool
        Layer the shipped calibration under each scenario (as ``sdplanner run`` does);
        False runs the ``.mdl``'s defaults.
    reviewer : Reviewer, optional
        A reviewer whose cached runs to reuse.

    Returns
    -------
    dict
        Deterministic: the same figures on every call with the same model and files.
    """
    rv = reviewer or Reviewer(params=params)
    return {n: SECTIONS[n][0](rv) for n in sorted(sections or SECTIONS)}


def main(argv=None) -> int:
    """Run the review and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-params", action="store_true", help="the .mdl defaults, no calibration"
    )
    parser.add_argument("--section", type=int, action="append", choices=sorted(SECTIONS))
    args = parser.parse_args(argv)
    rv = Reviewer(params=not args.no_params)
    print(
        f"model {rv.info.path.name} sha256 {rv.info.sha256[:12]}; calibration: "
        f"{'none (.mdl defaults)' if args.no_params else 'shipped'}; paths: {', '.join(PATHS)}"
    )
    print()
    figures = review(args.section, reviewer=rv)
    for n, d in figures.items():
        SECTIONS[n][1](d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
