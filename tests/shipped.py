"""The shipped model's spec as test constants, so no test writes model facts again."""

from __future__ import annotations

from sdplanner.model import load_model

MODEL = load_model()
SPEC = MODEL.spec
REGIONS = SPEC.dimension.labels
ELEMENTS = SPEC.dimension.elements
AGGREGATE = SPEC.dimension.aggregate
LEVERS = SPEC.levers
PATHS = SPEC.paths
OUTPUT_VARIABLES = SPEC.outputs
CORE_INDICATORS = SPEC.view("headline")
INDICATORS = SPEC.view("comparison")
COMPARISON_YEARS = SPEC.comparison_years
COST_VARIABLE = SPEC.cumulative_cost
