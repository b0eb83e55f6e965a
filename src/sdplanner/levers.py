"""The policy levers of the five paths of the seed's section 4 and of targeted poverty alleviation.

Each lever is three constants of the ``.mdl`` per region: ``<name> strength``, ``<name> start``
and ``<name> ramp years``; the effect ramps linearly from 0 at the start year to the full
strength after the ramp. Costs are computed in the model (``cost <name>`` variables).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LEVERS", "PATHS", "Lever", "lever_by_name"]

#: The five policy paths: key -> (seed section, title).
PATHS: dict[str, tuple[str, str]] = {
    "urban_layout": ("4.1", "Factor-intensive urban space layout"),
    "specialized_industry": ("4.2", "Specialized industry development"),
    "infrastructure": ("4.3", "Infrastructure construction"),
    "resource_integration": ("4.4", "Resource integration and capital"),
    "regulations_social_security": ("4.5", "Regulations and social security"),
    "targeted_poverty": ("beyond the seed", "Targeted poverty alleviation"),
}


@dataclass(frozen=True)
class Lever:
    """One policy lever.

    Attributes
    ----------
    name : str
        Name used in scenario files (e.g. ``"infrastructure_investment"``).
    path : str
        Key of `PATHS` the lever belongs to.
    unit : str
        Unit of the strength.
    minimum, maximum : float
        Valid range of the strength.
    description : str
        What the strength means.
    cost_rule : str
        How the model computes the lever's fiscal cost (yuan/year).
    default_start : float
        Start year in the ``.mdl`` (year).
    default_ramp_years : float
        Ramp length in the ``.mdl`` (year).
    """

    name: str
    path: str
    unit: str
    minimum: float
    maximum: float
    description: str
    cost_rule: str
    default_start: float
    default_ramp_years: float

    @property
    def strength_constant(self) -> str:
        """PySD name of the strength constant."""
        return f"{self.name}_strength"

    @property
    def start_constant(self) -> str:
        """PySD name of the start-year constant."""
        return f"{self.name}_start"

    @property
    def ramp_constant(self) -> str:
        """PySD name of the ramp-length constant."""
        return f"{self.name}_ramp_years"

    @property
    def cost_variable(self) -> str:
        """PySD name of the lever's cost variable (yuan/year)."""
        name = {"returnee_incubators": "returnee_incubators"}.get(self.name, self.name)
        if name == "social_security_target":
            return "cost_social_security"
        if name == "town_agglomeration_target":
            return "cost_town_agglomeration"
        if name == "returnee_incubators":
            return "cost_returnee_incubators"
        return f"cost_{name}"


LEVERS: tuple[Lever, ...] = (
    Lever(
        "town_agglomeration_target",
        "urban_layout",
        "index points",
        0.0,
        1.0,
        "Rise of the target of the town agglomeration index (2010 = 1).",
        "strength x urban population x 500 yuan per urban resident per index point per year",
        2015,
        5,
    ),
    Lever(
        "farmland_consolidation",
        "urban_layout",
        "fraction",
        0.0,
        1.0,
        "Share of idle farmland brought back into use by consolidation.",
        "strength x rural population x 200 yuan per rural resident per year",
        2015,
        5,
    ),
    Lever(
        "town_absorptive_capacity",
        "urban_layout",
        "fraction",
        0.0,
        1.0,
        "Fractional rise of the towns' capacity to absorb residents.",
        "strength x urban population x 400 yuan per urban resident per year",
        2015,
        5,
    ),
    Lever(
        "industry_support",
        "specialized_industry",
        "yuan per yuan",
        0.0,
        0.5,
        "Subsidy or tax discount per yuan of industrial investment.",
        "strength x (local reinvestment + industry transfer investment)",
        2015,
        3,
    ),
    Lever(
        "agro_tourism_productivity",
        "specialized_industry",
        "fraction",
        0.0,
        0.5,
        "Fractional productivity rise of agriculture, agro-processing and tourism.",
        "strength x agricultural output x 0.1 (extension and promotion)",
        2015,
        5,
    ),
    Lever(
        "infrastructure_investment",
        "infrastructure",
        "share of GDP",
        0.0,
        0.2,
        "Extra public infrastructure investment as a share of GDP.",
        "strength x GDP",
        2015,
        3,
    ),
    Lever(
        "ppp_leverage",
        "resource_integration",
        "yuan per yuan",
        0.0,
        2.0,
        "Extra private yuan mobilized per public infrastructure yuan (BOT, PPP).",
        "strength x public infrastructure investment x 0.1 (guarantees, viability gap)",
        2015,
        5,
    ),
    Lever(
        "returnee_incubators",
        "resource_integration",
        "fraction",
        0.0,
        1.0,
        "Fractional rise of return migration from returnee parks and business incubators.",
        "extra returnees x 10,000 yuan per returnee",
        2015,
        3,
    ),
    Lever(
        "graduate_retention",
        "resource_integration",
        "fraction",
        0.0,
        0.85,
        "Rise of the share of graduates who stay (tuition exemption, start-up support).",
        "extra graduates staying x 20,000 yuan per graduate",
        2015,
        3,
    ),
    Lever(
        "hukou_reform",
        "regulations_social_security",
        "fraction",
        0.0,
        1.0,
        "Share of the household registration barrier removed: urban residents registered,"
        " returnees settling in towns.",
        "people registered or settled through the reform x 80,000 yuan one-off public services",
        2015,
        5,
    ),
    Lever(
        "social_security_target",
        "regulations_social_security",
        "fraction",
        0.0,
        1.0,
        "Rural pension enrolment target (no effect below the 0.85 base target).",
        "enrolment above the base x (rural elderly x 660 + rural working age x 30) yuan per year",
        2015,
        5,
    ),
    Lever(
        "targeted_transfers",
        "targeted_poverty",
        "fraction",
        0.0,
        1.0,
        "Share of registered poor people reached by targeted income transfers.",
        "strength x registered poor x 1,200 yuan per person per year",
        2015,
        2,
    ),
    Lever(
        "development_aid",
        "targeted_poverty",
        "fraction",
        0.0,
        1.0,
        "Share of registered poor people in development aid projects.",
        "strength x registered poor x 800 yuan per person per year",
        2015,
        3,
    ),
    Lever(
        "poverty_relocation",
        "targeted_poverty",
        "1/year",
        0.0,
        0.5,
        "Share of the people still living in uninhabitable areas relocated each year.",
        "people relocated x 50,000 yuan one-off",
        2015,
        3,
    ),
)


def lever_by_name(name: str) -> Lever | None:
    """Return the lever of that name, or None.

    Parameters
    ----------
    name : str
        Lever name as used in scenario files.

    Returns
    -------
    Lever or None
        The lever.
    """
    for lever in LEVERS:
        if lever.name == name:
            return lever
    return None
