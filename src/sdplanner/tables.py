"""Results as labelled arrays: the tidy table and xarray Datasets, both ways.

The tidy table (`sdplanner.results.RESULT_COLUMNS`) is what ``results.csv`` holds.
`write_tables` writes a command's tables besides their CSV files as NetCDF (through xarray's
h5netcdf engine) or as one Excel workbook (``--table-format``). An
`xarray.Dataset` holds the same numbers with one data variable per model variable, dimensions
``scenario``, ``region`` and ``year`` (``region`` is absent for variables without the region
subscript), and the model unit in each variable's ``units`` attribute; a batch of runs adds a
``sample`` dimension. xarray is used because it is what PySD and the climate and energy
modelling tools hand to notebooks, and it writes NetCDF, which every analysis language reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sdplanner.engine.base import SimulationOutput
from sdplanner.model import ModelInfo
from sdplanner.results import RESULT_COLUMNS, aggregate
from sdplanner.spec import OutputSpec

__all__ = [
    "TABLE_FORMATS",
    "batch_dataset",
    "dataset_to_frame",
    "frame_to_dataset",
    "table_dataset",
    "write_tables",
]

#: Formats of ``--table-format``: CSV always; NetCDF or Excel besides it.
TABLE_FORMATS = ("csv", "netcdf", "xlsx")
#: Largest number of rows Excel takes in a sheet.
_XLSX_ROWS = 1_048_575


def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """Turn a tidy results table into a Dataset.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``scenario, region, variable, year, value[, unit]``.

    Returns
    -------
    xarray.Dataset
        One data variable per ``variable``, dimensions ``(scenario, region, year)`` in the
        table's order (``(scenario, year)`` for a variable whose only region is empty);
        ``units`` attributes from the ``unit`` column.
    """
    scenarios = list(dict.fromkeys(frame["scenario"]))
    years = np.array(sorted(set(frame["year"].astype(int))))
    data_vars = {}
    for name, rows in frame.groupby("variable", sort=False):
        regions = list(dict.fromkeys(rows["region"]))
        table = rows.pivot_table(
            index=["scenario", "region"], columns="year", values="value", sort=False
        )
        if regions == [""]:
            arr = table.reindex(
                pd.MultiIndex.from_product([scenarios, [""]]), columns=years
            ).to_numpy()
            var = xr.Variable(("scenario", "year"), arr.reshape(len(scenarios), len(years)))
        else:
            index = pd.MultiIndex.from_product([scenarios, regions])
            arr = table.reindex(index, columns=years).to_numpy()
            var = xr.DataArray(
                arr.reshape(len(scenarios), len(regions), len(years)),
                dims=("scenario", "region", "year"),
                coords={"region": regions},
            )
        unit = rows["unit"].iloc[0] if "unit" in rows.columns else ""
        data_vars[name] = (
            var if isinstance(var, xr.DataArray) else xr.DataArray(var)
        ).assign_attrs(units=str(unit))
    ds = xr.Dataset(data_vars)
    return ds.assign_coords(scenario=scenarios, year=years)


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Turn a Dataset of `frame_to_dataset` or `batch_dataset` back into a tidy table.

    Parameters
    ----------
    ds : xarray.Dataset
        Data variables with dimensions among ``sample, scenario, region, year``.

    Returns
    -------
    pandas.DataFrame
        The tidy columns (`sdplanner.results.RESULT_COLUMNS`), preceded by ``sample`` when the
        Dataset has that dimension; rows in the Dataset's order, missing values left out.
    """
    frames = []
    lead = ["sample"] if "sample" in ds.dims else []
    for name, var in ds.data_vars.items():
        part = var.to_dataframe(name="value").reset_index()
        if "region" not in part.columns:
            part["region"] = ""
        if "scenario" not in part.columns:
            part["scenario"] = ""
        part["variable"] = name
        part["unit"] = var.attrs.get("units", "")
        frames.append(part[[*lead, *RESULT_COLUMNS]].dropna(subset=["value"]))
    return pd.concat(frames, ignore_index=True)


def batch_dataset(
    output: SimulationOutput,
    model: ModelInfo,
    outputs: Sequence[OutputSpec],
    samples: Mapping[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """Turn a batch run into a Dataset with a ``sample`` dimension, aggregates included.

    Parameters
    ----------
    output : SimulationOutput
        From ``run_batch``: ``(n, n_times[, n_regions])`` per variable.
    model : ModelInfo
        The model (its spec's dimension and the outputs' units).
    outputs : sequence of OutputSpec
        The variables wanted (their weights must be in ``output``).
    samples : mapping, optional
        Name -> ``(n,)`` values describing each sample (e.g. lever strengths), added as
        coordinates along ``sample``.

    Returns
    -------
    xarray.Dataset
        Dimensions ``(sample, region, year)`` (the aggregate as the last region for outputs
        that aggregate) or ``(sample, year)``; values in the model's units.
    """
    years = np.rint(np.asarray(output.times, dtype=float)).astype(int)
    dim = model.spec.dimension
    data_vars = {}
    for out in outputs:
        data = np.asarray(output.values[out.name], dtype=float)
        if data.ndim == 2:
            var = xr.DataArray(data, dims=("sample", "year"))
        else:
            regions = (
                list(dim.labels) if dim is not None else [str(i) for i in range(data.shape[-1])]
            )
            if out.aggregate != "none" and dim is not None:
                data = np.concatenate([data, aggregate(output.values, out)[..., None]], axis=-1)
                regions = [*regions, dim.aggregate]
            var = xr.DataArray(
                data.transpose(0, 2, 1),
                dims=("sample", "region", "year"),
                coords={"region": regions},
            )
        data_vars[out.name] = var.assign_attrs(units=model.units(out.name))
    n = next(iter(output.values.values())).shape[0]
    ds = xr.Dataset(data_vars).assign_coords(year=years, sample=np.arange(n))
    for key, values in (samples or {}).items():
        ds = ds.assign_coords({key: ("sample", np.asarray(values))})
    return ds


def table_dataset(frame: pd.DataFrame, index: Sequence[str]) -> xr.Dataset:
    """Turn any tidy table into a Dataset: ``index`` columns become dimensions.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (e.g. ``comparison.csv``: index ``scenario, region, indicator, year``).
    index : sequence of str
        Columns that identify a row; every other column becomes a data variable.

    Returns
    -------
    xarray.Dataset
        One data variable per other column; missing combinations NaN.
    """
    return frame.set_index(list(index)).to_xarray()


def write_tables(
    tables: Mapping[str, tuple[pd.DataFrame, Sequence[str] | None]],
    folder,
    fmt: str,
) -> list[str]:
    """Write tables in a ``--table-format`` besides their CSV files.

    Parameters
    ----------
    tables : mapping
        File stem -> ``(table, index)``: ``index`` names the columns that identify a row
        (`table_dataset`), or None for a results table (`frame_to_dataset`: one variable per
        model variable, ``units`` attributes).
    folder : path-like
        Where to write (the staging folder of an `sdplanner.output_set.OutputSet`).
    fmt : {"csv", "netcdf", "xlsx"}
        ``csv`` writes nothing more; ``netcdf`` writes ``<stem>.nc`` per table; ``xlsx``
        writes ``tables.xlsx`` with one sheet per table (a results table with one column
        per year, so that it fits a sheet).

    Returns
    -------
    list of str
        The file names written.
    """
    from pathlib import Path

    folder = Path(folder)
    written: list[str] = []
    if fmt == "netcdf":
        for stem, (frame, index) in tables.items():
            ds = frame_to_dataset(frame) if index is None else table_dataset(frame, index)
            ds.to_netcdf(folder / f"{stem}.nc", engine="h5netcdf")
            written.append(f"{stem}.nc")
    elif fmt == "xlsx":
        with pd.ExcelWriter(folder / "tables.xlsx", engine="openpyxl") as book:
            for stem, (frame, index) in tables.items():
                sheet = frame
                if index is None:
                    cols = [c for c in RESULT_COLUMNS if c not in ("year", "value")]
                    sheet = frame.pivot_table(
                        index=cols, columns="year", values="value", sort=False
                    ).reset_index()
                sheet.head(_XLSX_ROWS).to_excel(book, sheet_name=stem[:31], index=False)
        written.append("tables.xlsx")
    return written
