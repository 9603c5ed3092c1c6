"""HEP-style comparison plots (matplotlib + mplhep; the ``plot`` extra).

Conventions: the reference is a filled histogram, generated samples are lines; histograms are normalised to
unit sum; a ratio panel shows generated / reference with statistical errors; the legend carries each sample's
separation power. Every function draws into the axes it is given (or makes a new :class:`Figure` when given
none) and returns what it drew; nothing here saves files, calls ``pyplot`` or changes global rcParams — the
report module applies :func:`hep_style` in a context and decides files (STYLE.md #12).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import MissingExtraError
from caloforge.geometry.core import CartesianGrid, CylindricalBins

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike, NDArray

    from caloforge.geometry import Geometry
    from caloforge.validation.classifier import ClassifierResult
    from caloforge.validation.response import ResolutionFit, ResponsePoint

__all__ = [
    "REFERENCE_COLOUR",
    "SAMPLE_COLOURS",
    "classifier_output",
    "compare_histograms",
    "fixed_margins",
    "hep_style",
    "layer_image",
    "new_figure",
    "ratio_figure",
    "resolution_curves",
]

REFERENCE_COLOUR = "#9e9e9e"
# colour-blind-safe (Okabe–Ito)
SAMPLE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _mpl() -> tuple[Any, Any]:
    try:
        import matplotlib
        import mplhep
    except ImportError:
        raise MissingExtraError("matplotlib and mplhep", "plot") from None
    return matplotlib, mplhep


@contextmanager
def hep_style(font_size: float = 11.0) -> Iterator[None]:
    """mplhep's ROOT style, scaled to report-sized figures, for the duration of a ``with`` block."""
    matplotlib, mplhep = _mpl()
    style = dict(mplhep.style.ROOT)
    style.update(
        {
            "font.size": font_size,
            "axes.labelsize": font_size,
            "axes.titlesize": font_size,
            "xtick.labelsize": font_size * 0.9,
            "ytick.labelsize": font_size * 0.9,
            "legend.fontsize": font_size * 0.8,
            "figure.figsize": (6.0, 4.5),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titlepad": 6.0,
            "xtick.major.size": 6.0,
            "ytick.major.size": 6.0,
            "xtick.minor.size": 3.0,
            "ytick.minor.size": 3.0,
            # two minor intervals per major one: the HEP look at a third less drawing time than the default
            "xtick.minor.ndivs": 2,
            "ytick.minor.ndivs": 2,
            "lines.linewidth": 1.5,
        }
    )
    with matplotlib.rc_context(style):
        yield


def new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    """A matplotlib Figure not registered with pyplot (no GUI backend, no global state).

    Margins are fixed (in inches, via :func:`fixed_margins`) rather than solved by a layout engine: the
    report draws dozens of figures and constrained layout would triple the time.
    """
    _mpl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fixed_margins(fig)
    return fig


def fixed_margins(
    fig: Figure, left: float = 0.85, right: float = 0.2, bottom: float = 0.6, top: float = 0.4, **space: float
) -> None:
    """Set the subplot margins of ``fig`` in inches (``space``: ``wspace``/``hspace`` as fractions)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=min(left / w, 0.4),
        right=1 - min(right / w, 0.3),
        bottom=min(bottom / h, 0.4),
        top=1 - min(top / h, 0.3),
        **space,
    )


def ratio_figure(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Axes, Axes]:
    """A figure with a main panel and a ratio panel below it, sharing x."""
    fig = new_figure(width, height)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.06)
    ax = fig.add_subplot(grid[0])
    rax = fig.add_subplot(grid[1], sharex=ax)
    return fig, ax, rax


def _normalised(counts: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return c, np.zeros_like(c)
    return c / total, np.sqrt(c) / total


def compare_histograms(
    edges: ArrayLike,
    reference: ArrayLike,
    generated: Mapping[str, ArrayLike],
    *,
    ax: Axes | None = None,
    rax: Axes | None = None,
    xlabel: str = "",
    ylabel: str = "normalised entries",
    separation: Mapping[str, float] | None = None,
    log_x: bool = False,
    log_y: bool = False,
    normalise: bool = True,
    reference_label: str = "reference",
) -> tuple[Axes, Axes | None]:
    """Reference (filled) vs generated (lines) histograms from counts, with an optional ratio panel.

    Args:
        edges: bin edges ``(n_bins + 1,)``.
        reference: reference counts (or weights) ``(n_bins,)``.
        generated: ``{label: counts}`` on the same bins.
        ax, rax: main and ratio axes (default: a new :func:`ratio_figure`; ``rax=None`` with a given ``ax``
            draws no ratio panel).
        separation: ``{label: separation power}`` shown in the legend.
        normalise: divide each histogram by its sum (the CaloChallenge convention); with ``False`` the values
            are drawn as given (profiles) without statistical errors.

    Returns:
        ``(ax, rax)``.
    """
    _, mplhep = _mpl()
    if ax is None:
        _, ax, rax = ratio_figure()
    e = np.asarray(edges, dtype=np.float64)
    if normalise:
        ref, ref_err = _normalised(reference)
    else:
        ref, ref_err = np.asarray(reference, dtype=np.float64), np.zeros(len(e) - 1)
    mplhep.histplot(ref, e, ax=ax, histtype="fill", color=REFERENCE_COLOUR, alpha=0.5, label=reference_label, flow=None)
    for i, (label, counts) in enumerate(generated.items()):
        colour = SAMPLE_COLOURS[i % len(SAMPLE_COLOURS)]
        if normalise:
            val, err = _normalised(counts)
        else:
            val, err = np.asarray(counts, dtype=np.float64), np.zeros(len(e) - 1)
        text = label if separation is None or label not in separation else f"{label} (S = {separation[label]:.3g})"
        mplhep.histplot(val, e, ax=ax, histtype="step", color=colour, linewidth=1.6, label=text, flow=None)
        if rax is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(ref > 0, val / ref, np.nan)
                rel = np.sqrt(
                    np.where(val > 0, (err / np.where(val > 0, val, 1)) ** 2, 0)
                    + np.where(ref > 0, (ref_err / np.where(ref > 0, ref, 1)) ** 2, 0)
                )
            centres = np.sqrt(e[1:] * e[:-1]) if log_x else 0.5 * (e[1:] + e[:-1])
            rax.errorbar(
                centres, ratio, yerr=ratio * rel if normalise else None, fmt="o", ms=2.5, color=colour, elinewidth=0.8
            )
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", frameon=False)
    if rax is not None:
        rax.yaxis.minorticks_off()
        rax.axhline(1.0, color=REFERENCE_COLOUR, lw=1.0)
        rax.set_ylim(0.5, 1.5)
        rax.set_ylabel("gen / ref")
        rax.set_xlabel(xlabel)
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    else:
        ax.set_xlabel(xlabel)
    ax.set_xlim(e[0], e[-1])
    return ax, rax


def layer_image(
    values: ArrayLike,
    geometry: Geometry,
    layer: int,
    *,
    ax: Axes | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
) -> Any:
    """Draw one readout layer's mean energy per voxel (MeV, log colour scale).

    Cartesian layers are drawn as an x (vertical) × y (horizontal) map in mm; cylindrical layers on polar axes
    (give ``ax`` made with ``projection="polar"``), with the radius drawn as log10(1 + r/mm) when the radial
    edges span more than two decades (CaloChallenge dataset 1), linear otherwise.

    Args:
        values: the layer's voxels ``(n_voxels_layer,)`` in its flat order, MeV.
        vmin, vmax: colour range (default: the values' positive range, at most 4 decades).

    Returns:
        The ``QuadMesh``.
    """
    _mpl()
    from matplotlib.colors import LogNorm

    v = np.asarray(values, dtype=np.float64)
    seg = geometry.layers[layer].segmentation
    positive = v[v > 0]
    hi = vmax if vmax is not None else (float(positive.max()) if positive.size else 1.0)
    lo = vmin if vmin is not None else (max(float(positive.min()), hi * 1e-4) if positive.size else hi * 1e-4)
    norm = LogNorm(vmin=lo, vmax=max(hi, lo * 10))
    masked = np.ma.masked_less_equal(v, 0.0)
    if isinstance(seg, CartesianGrid):
        if ax is None:
            ax = new_figure(4, 4).add_subplot()
        mesh = ax.pcolormesh(seg.y_edges(), seg.x_edges(), masked.reshape(seg.nx, seg.ny), norm=norm, cmap="viridis")
        ax.set_xlabel("y [mm]")
        ax.set_ylabel("x [mm]")
    else:
        assert isinstance(seg, CylindricalBins)
        if ax is None:
            ax = new_figure(4, 4).add_subplot(projection="polar")
        r = np.asarray(seg.r_edges, dtype=np.float64)
        nonzero = r[r > 0]
        if nonzero.size and r[-1] / nonzero[0] > 100:
            r = np.log10(1.0 + r)
        # finer angular sampling so that single-α layers still draw as rings
        n_sub = max(1, 64 // seg.n_alpha)
        theta = np.linspace(-np.pi, np.pi, seg.n_alpha * n_sub + 1)
        grid = np.repeat(masked.reshape(seg.n_alpha, seg.n_r), n_sub, axis=0)
        mesh = ax.pcolormesh(theta, r, grid.T, norm=norm, cmap="viridis")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if title:
        ax.set_title(title)
    return mesh


def resolution_curves(
    reference: Sequence[ResponsePoint],
    generated: Mapping[str, Sequence[ResponsePoint]],
    *,
    fits: Mapping[str, ResolutionFit | None] | None = None,
    ax_response: Axes | None = None,
    ax_resolution: Axes | None = None,
) -> tuple[Axes, Axes]:
    """Response ``<E_tot/E_inc>`` and resolution ``σ/μ`` vs incident energy (GeV), with ``a/√E ⊕ b`` fits.

    ``fits`` maps ``"reference"`` and sample labels to their fits (drawn as curves).
    """
    if ax_response is None or ax_resolution is None:
        fig = new_figure(10, 4.2)
        ax_response, ax_resolution = fig.subplots(1, 2)
    fits = fits or {}
    series = [("reference", reference, REFERENCE_COLOUR)] + [
        (label, pts, SAMPLE_COLOURS[i % len(SAMPLE_COLOURS)]) for i, (label, pts) in enumerate(generated.items())
    ]
    e_all = [p.energy for _, pts, _ in series for p in pts]
    for label, pts, colour in series:
        if not pts:
            continue
        e = np.array([p.energy for p in pts]) / 1000.0
        marker = "s" if label == "reference" else "o"
        ax_response.errorbar(
            e, [p.mean for p in pts], yerr=[p.mean_error for p in pts], fmt=marker, color=colour, ms=4, label=label
        )
        ax_resolution.errorbar(
            e,
            [p.resolution for p in pts],
            yerr=[p.resolution_error for p in pts],
            fmt=marker,
            color=colour,
            ms=4,
            label=label,
        )
        fit = fits.get(label)
        if fit is not None and e_all:
            grid = np.logspace(np.log10(min(e_all)), np.log10(max(e_all)), 100)
            ax_resolution.plot(
                grid / 1000.0,
                fit(grid),
                color=colour,
                lw=1.2,
                ls="--" if label == "reference" else "-",
                label=f"fit: a = {100 * fit.a:.1f} %, b = {100 * fit.b:.2f} %",
            )
    for ax in (ax_response, ax_resolution):
        ax.set_xscale("log")
        ax.set_xlabel("E_inc [GeV]")
        ax.legend(frameon=False)
    ax_response.set_ylabel(r"response $\langle E_\mathrm{tot} / E_\mathrm{inc} \rangle$")
    ax_resolution.set_ylabel("resolution σ / μ")
    return ax_response, ax_resolution


def classifier_output(result: ClassifierResult, *, ax: Axes | None = None, label: str = "generated") -> Axes:
    """Calibrated classifier output on the val split: reference (filled) vs generated (line)."""
    if ax is None:
        ax = new_figure(5, 4).add_subplot()
    edges = np.linspace(0.0, 1.0, 41)
    y = result.val_labels > 0.5
    ref_counts = np.histogram(result.val_probability[y], edges)[0]
    gen_counts = np.histogram(result.val_probability[~y], edges)[0]
    compare_histograms(
        edges,
        ref_counts,
        {label: gen_counts},
        ax=ax,
        rax=None,
        xlabel="calibrated classifier output p(reference)",
        log_y=True,
    )
    ax.set_title(f"{result.inputs} inputs: AUC {result.auc:.3f}, JSD {result.jsd:.3f}")
    return ax
