"""Review the shipped model against the done-when figures of issues 14 and 15.

Prints, from runs of the batch engine (C kernel) with the shipped calibration layered under
each scenario (as ``sdplanner run`` does):

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


def section_bounds(rv: Reviewer) -> None:
    """Print section 1: per-capita ratios, income against GDP, income in 2050."""
    print("== 1. Bounds, every shipped scenario, 2010-2050, every region")
    pcs = per_capita_variables(rv.engine)
    print(f"per-capita variables checked ({len(pcs)}): {', '.join(pcs)}")
    print(
        f"{'scenario':38s} {'max x/x2010':>11s} {'variable, region, year':48s}"
        f" {'max inc/gdppc':>13s} {'max inc 2050':>12s}"
    )
    for name in shipped_scenarios():
        t, v = rv.scenario(name)
        worst = (0.0, "")
        for py in pcs:
            x = v[py]
            x0 = x[0]
            ok = np.abs(x0) > 1e-9
            if x.ndim == 1:
                if not ok:
                    continue
                r = x / x0
                k = int(np.argmax(r))
                if r[k] > worst[0]:
                    worst = (float(r[k]), f"{py}, -, {t[k]:.0f}")
            else:
                with np.errstate(all="ignore"):
                    r = np.where(ok, x / np.where(ok, x0, 1), 0)
                k = np.unravel_index(int(np.argmax(r)), r.shape)
                if r[k] > worst[0]:
                    worst = (float(r[k]), f"{py}, {rv.regions[k[1]]}, {t[k[0]]:.0f}")
        ratio = (v["rural_income_per_capita"] / v["gdp_per_capita"]).max()
        inc2050 = v["rural_income_per_capita"][t.index(2050.0)].max()
        print(f"{name:38s} {worst[0]:11.2f} {worst[1]:48s} {ratio:13.3f} {inc2050:12,.0f}")
    print()


def section_conservation(rv: Reviewer) -> None:
    """Print section 2: people against Population Balance in every scenario."""
    print("== 2. Conservation of people (seven stocks vs Population Balance), every scenario")
    worst = 0.0
    for name in shipped_scenarios():
        _, v = rv.scenario(name)
        # registered population = Rural + Urban + Migrants = the seven population stocks
        total = v["registered_population"]
        worst = max(
            worst, float(np.max(np.abs(total - v["population_balance"]) / v["population_balance"]))
        )
    print(f"largest relative error: {worst:.2e}")
    print()


def section_hukou(rv: Reviewer) -> None:
    """Print section 3: hukou reform alone."""
    print("== 3. Hukou reform alone (strength 0.5 from 2015, 5-year ramp)")
    base = rv.base_params()
    t, v0 = rv.run(base)
    _, v1 = rv.run({**base, "hukou_reform_strength": 0.5, "hukou_reform_start": 2015.0})
    rel = np.abs(v1["rural_income_per_capita"] / v0["rural_income_per_capita"] - 1)
    k = np.unravel_index(int(np.argmax(rel)), rel.shape)
    print(
        f"largest relative change of rural income per rural resident: {100 * rel[k]:.3f} %"
        f" ({rv.regions[k[1]]}, {t[k[0]]:.0f})"
    )
    for year in (2020, 2030, 2050):
        i = t.index(float(year))
        reg = 100 * (
            weighted(v1, "registered_urbanization_rate", "registered_population")[i]
            - weighted(v0, "registered_urbanization_rate", "registered_population")[i]
        )
        res0 = weighted(v0, "urbanization_rate", "resident_population")[i]
        res1 = weighted(v1, "urbanization_rate", "resident_population")[i]
        print(
            f"{year}: registered urbanization +{reg:.2f} points, resident urbanization"
            f" {100 * (res1 - res0):+.2f} points, cost {v1['cost_hukou_reform'][i].sum() / 1e9:.1f}"
            " bn yuan/year"
        )
    print()


def section_continuity(rv: Reviewer) -> None:
    """Print section 4: a growth-rate step and the largest ratio jump of a stock."""
    print("== 4. Continuity: outside wage growth 0.07, then 0.03 from 2021")
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
    print(f"largest |x(2021)/x(2020) - x(2020)/x(2019)|: {worst[0]:.4f} ({worst[1]})")
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


def section_targeted(rv: Reviewer) -> None:
    """Print section 5: the targeted poverty levers."""
    print("== 5. Targeted poverty alleviation (transfers, development aid, relocation), from 2015")
    base = rv.base_params()
    t, v0 = rv.run(base)
    _, vz = rv.run(targeted_params(base, 0.0))
    same = all(
        np.array_equal(v0[k], vz[k]) for k in ("poverty_incidence", "rural_income_per_capita")
    )
    print(f"levers at 0 give the baseline exactly: {same}")
    for s in (0.25, 0.5, 1.0):
        _, v = rv.run(targeted_params(base, s))
        pov = weighted(v, "poverty_incidence", "rural_population")
        below = [y for y, p in zip(t, pov, strict=True) if y >= 2015 and p < 0.005]
        i20 = t.index(2020.0)
        cost = v["targeted_poverty_cost"][i20].sum()
        lifted = v["people_lifted_by_targeted_policy"][i20].sum()
        print(
            f"strength {s:4.2f}: 14-region poverty 2020 {100 * pov[i20]:.2f} %"
            f" (baseline {100 * weighted(v0, 'poverty_incidence', 'rural_population')[i20]:.2f} %),"
            f" below 0.5 % from {below[0]:.0f}"
            if below
            else f"strength {s}: never below 0.5 %",
            end="",
        )
        print(
            f"; 2020 cost {cost / 1e9:.1f} bn yuan,"
            f" {cost / max(lifted, 1):,.0f} yuan per person lifted"
        )
    print()


def section_demography(rv: Reviewer) -> None:
    """Print section 6: population against the UN 2015 projection, ageing."""
    print("== 6. Demography (baseline) against UN WPP 2015 medium variant, China")
    t, v = rv.scenario("baseline")
    res = v["resident_population"].sum(axis=1)
    reg = v["registered_population"].sum(axis=1)
    for year in (2030, 2050):
        i = t.index(float(year))
        print(
            f"{year}: residents x{res[i] / res[0]:.3f}, registered x{reg[i] / reg[0]:.3f};"
            f" WPP 2015 China x{WPP2015_CHINA[year] / WPP2015_CHINA[2010]:.3f}"
        )
    print(f"largest resident ratio to 2010 over 2010-2050: x{res.max() / res[0]:.3f}")
    ws = weighted(v, "rural_working_age_share", "rural_population")
    i50 = t.index(2050.0)
    print(
        f"rural working-age share: {ws[0]:.3f} (2010) -> {ws[t.index(2030.0)]:.3f} (2030)"
        f" -> {ws[i50]:.3f} (2050)"
    )
    cbr = (v["crude_birth_rate"][:, :] * v["resident_population"]).sum(1) / res
    cdr = (v["crude_death_rate"][:, :] * v["resident_population"]).sum(1) / res
    print(
        f"crude birth rate per 1,000: {1000 * cbr[0]:.1f} (2010) -> {1000 * cbr[i50]:.1f} (2050);"
        f" crude death rate {1000 * cdr[0]:.1f} -> {1000 * cdr[i50]:.1f}"
    )
    print()


def section_saturation(rv: Reviewer) -> None:
    """Print section 7: job availability, crowding, infrastructure adequacy."""
    print("== 7. Saturation and feedback")
    print(
        f"{'scenario':38s} {'max job avail':>13s} {'max crowding':>12s}"
        f" {'min crowd effect':>16s} {'max infra adequacy':>18s}"
    )
    runs = [(n, rv.scenario(n)) for n in shipped_scenarios()]
    maxed = {**rv.base_params()}
    for lever in LEVERS:
        maxed[lever.strength_constant] = lever.maximum
    runs.append(("(every lever at its maximum)", rv.run(maxed)))
    for name, (_, v) in runs:
        print(
            f"{name:38s} {v['job_availability_ratio'].max():13.3f}"
            f" {v['urban_crowding_ratio'].max():12.3f}"
            f" {v['effect_of_crowding_on_settlement'].min():16.3f}"
            f" {v['infrastructure_adequacy'].max():18.2f}"
        )
    effects = [
        "effect_of_infrastructure_on_non_farm_productivity",
        "effect_of_infrastructure_on_town_attractiveness",
        "effect_of_infrastructure_on_industry_transfer",
        "effect_of_agglomeration_on_productivity",
    ]
    _, vm = runs[-1][1]
    print(
        "largest effect multipliers, every lever at its maximum: "
        + ", ".join(f"{e.replace('effect_of_', '')} {vm[e].max():.3f}" for e in effects)
    )
    print()


def section_dt(rv: Reviewer) -> None:
    """Print section 8: the largest change of a reported output when TIME STEP halves."""
    print("== 8. Halving TIME STEP (baseline and all-five, every reported output)")
    names = [o.name for o in OUTPUT_VARIABLES]
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
        print(
            f"{scen} ({years}): TIME STEP {rv.info.time_step} vs {rv.info.time_step / 2}:"
            f" largest relative change {100 * worst[0]:.3f} % ({worst[1]})"
        )
    print()


def section_fit(rv: Reviewer) -> None:
    """Print section 9: 2010-2015 against the history pack."""
    print(
        "== 9. 2010-2015 against the history pack"
        " (income deflated to 2010 prices with the poverty-line index)"
    )
    for scen in ("baseline", "as-happened"):
        if not (SCENARIOS / f"{scen}.yaml").exists():
            continue
        t, v = rv.scenario(scen)
        inc = weighted(v, "rural_income_per_capita", "rural_population")
        pov = weighted(v, "poverty_incidence", "rural_population")
        print(f"-- {scen}")
        for year, (value, kind) in INCOME_14.items():
            real = value * 2300 / POVERTY_LINE_CURRENT[year]
            print(
                f"rural income {year}: model {inc[t.index(float(year))]:,.0f};"
                f" data {real:,.0f} ({kind}, {value} current yuan)"
            )
        for year, value in POVERTY_14.items():
            print(
                f"poverty incidence {year}: model {100 * pov[t.index(float(year))]:.1f} %;"
                f" data {value} %"
            )
        i12 = t.index(2012.0)
        reg = weighted(v, "registered_urbanization_rate", "registered_population")[i12]
        print(
            f"registered urbanization 2012: model {100 * reg:.1f} %;"
            f" seed {REGISTERED_URBANIZATION_2012:.1f} %"
        )
        u = v["urbanization_rate"]
        i15 = t.index(2015.0)
        for region, gain in (("Tibet", 27.74 - 22.67), ("Wulingshan", 35.04 - 25.99)):
            k = rv.regions.index(region)
            print(
                f"urbanization gain 2010-2015, {region}: model"
                f" {100 * (u[i15, k] - u[0, k]):+.1f} points; data {gain:+.1f}"
                " (Tibet, Tongren: census to year end)"
            )
    t, v = rv.scenario("baseline")
    table1 = rv.engine.ir.variables["urbanization_rate_2010"].value
    print(
        "2010 urbanization = Table 1 (max abs error): "
        f"{np.max(np.abs(v['urbanization_rate'][0] - table1)):.1e}"
    )
    print()


HEADLINE = (
    ("urbanization_rate", "resident_population", 100, "points", "higher"),
    ("registered_urbanization_rate", "registered_population", 100, "points", "higher"),
    ("rural_income_per_capita", "rural_population", 1, "yuan", "higher"),
    ("poverty_incidence", "rural_population", 100, "points", "lower"),
    ("gdp_per_capita", "resident_population", 1, "yuan", "higher"),
)


def section_ranking(rv: Reviewer) -> None:
    """Print section 10: each path's effects and the ranking of the paths."""
    print("== 10. Effect of each path against the baseline (14 regions) and its rank")
    _, v0 = rv.scenario("baseline")
    paths = [n for n in shipped_scenarios() if n.startswith("path-")] + ["all-five"]
    for year in (2030, 2050):
        t, _ = rv.scenario("baseline")
        i = t.index(float(year))
        print(f"-- {year}")
        print(
            f"{'scenario':40s}"
            + "".join(f"{h[0][:22]:>24s}" for h in HEADLINE)
            + f"{'cum. cost bn':>14s}"
        )
        table = {}
        for name in paths:
            _, v = rv.scenario(name)
            row = []
            for var, w, scale, _, _ in HEADLINE:
                row.append(scale * (weighted(v, var, w)[i] - weighted(v0, var, w)[i]))
            cost = v["cumulative_policy_cost_all_regions"][i] / 1e9
            table[name] = (row, cost)
            print(f"{name:40s}" + "".join(f"{x:24.3f}" for x in row) + f"{cost:14.0f}")
        singles = [n for n in paths if n != "all-five"]
        for j, (var, _, _, unit, better) in enumerate(HEADLINE):
            order = sorted(singles, key=lambda n: table[n][0][j], reverse=(better == "higher"))
            print(f"rank by {var} ({unit}): " + " > ".join(n.replace("path-", "") for n in order))
    print()


SECTIONS = {
    1: section_bounds,
    2: section_conservation,
    3: section_hukou,
    4: section_continuity,
    5: section_targeted,
    6: section_demography,
    7: section_saturation,
    8: section_dt,
    9: section_fit,
    10: section_ranking,
}


def main(argv=None) -> int:
    """Run the review."""
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
    for n in args.section or sorted(SECTIONS):
        SECTIONS[n](rv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
