"""The evaluation report: ``index.html`` (one self-contained page, plots embedded as PNG data URIs) and
``metrics.json`` (every number). Both files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import DataFormatError
from caloforge.validation.binning import challenge_dataset, histogram
from caloforge.validation.observables import FeatureSpec, layer_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from caloforge.validation.evaluation import Evaluation

__all__ = ["PUBLISHED", "render_html", "write_report"]

# Published numbers to put ours beside (EVALUATION.md, from the CaloChallenge 2022 summary arXiv:2410.21611,
# CaloGAN arXiv:1712.10321 and 3DGAN EPJC 82 (2022) 386). AUC 0.5 is perfect; times per shower.
PUBLISHED: dict[str, tuple[str, str, str]] = {
    "1-photons": (
        "CaloINN low-level AUC 0.626; CaloDiffusion high-level AUC 0.536",
        "BoloGAN 0.55 ms CPU (AUC 0.93); CaloINN 2.9 ms CPU, 0.19 ms GPU",
        "arXiv:2410.21611 (batch 10000)",
    ),
    "1-pions": (
        "CaloDiffusion AUC 0.680 (low) / 0.652 (high); Geant4 vs Geant4 itself: 0.609",
        "DNN CaloSim 0.39 ms CPU (AUC 0.68 / 0.82)",
        "arXiv:2410.21611 (batch 10000)",
    ),
    "2": (
        "CaloDREAM AUC 0.531 (low) / 0.521 (high), ~5.7 s CPU",
        "conv. L2LFlows 89 ms CPU, 1.6 ms GPU (AUC 0.71)",
        "arXiv:2410.21611 (batch 10000)",
    ),
    "3": (
        "CaloDiffusion low-level AUC 0.561 (0.8 s GPU at batch 100)",
        "conv. L2LFlows 6.8 ms GPU (AUC 0.59)",
        "arXiv:2410.21611",
    ),
    "calogan": (
        "—",
        "CaloGAN 2 ms CPU at batch 1024, 0.012 ms on a K80 GPU; Geant4 1772 ms",
        "arXiv:1712.10321",
    ),
    "clic-ecal": ("—", "3DGAN 7 ms CPU; Geant4 17 s", "Khattak et al., EPJC 82 (2022) 386"),
}

_FAMILY_TITLES = {
    "e_layer": ("Energy per layer", "E_layer [MeV]"),
    "fraction": ("Layer energy fractions", "E_layer / E_tot"),
    "ec_x": ("Centre of energy in x", "EC_x [mm]"),
    "ec_y": ("Centre of energy in y", "EC_y [mm]"),
    "ec_r": ("Centre of energy in r", "EC_r [mm]"),
    "width_x": ("Shower width in x", "width_x [mm]"),
    "width_y": ("Shower width in y", "width_y [mm]"),
    "width_r": ("Shower width in r", "width_r [mm]"),
    "sparsity": ("Sparsity per layer", "fraction of empty voxels"),
    "e_ratio": ("E_ratio (CaloGAN)", "(E_max1 − E_max2) / (E_max1 + E_max2)"),
}
_MAX_SINGLE = 6  # families with at most this many layers get one ratio plot per layer

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; }
header { background: #12355b; color: white; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; opacity: 0.85; font-size: 13px; }
nav { background: #e8edf3; padding: 8px 32px; font-size: 13px; }
nav a { margin-right: 14px; color: #12355b; text-decoration: none; }
main { max-width: 1280px; margin: 0 auto; padding: 10px 32px 40px 32px; }
h2 { border-bottom: 2px solid #12355b; padding-bottom: 4px; margin-top: 36px; font-size: 19px; }
h3 { font-size: 16px; margin-top: 24px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; background: white; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
tr:nth-child(even) td { background: #f7f9fb; }
table.summary td:first-child { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 8px 10px 14px 0; vertical-align: top; background: white;
         border: 1px solid #e1e4e8; padding: 6px; }
figure img { display: block; max-width: 100%; }
figcaption { font-size: 12px; color: #444; max-width: 620px; margin-top: 4px; }
.note { font-size: 13px; color: #444; max-width: 1000px; }
.bad { color: #b3261e; font-weight: 600; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; font-size: 13px; }
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot');
  var ok = 0;
  imgs.forEach(function (im) { if (im.complete && im.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute('data-plots-total', String(imgs.length));
  document.body.setAttribute('data-plots-rendered', String(ok));
});
"""


def _esc(text: object) -> str:
    return html.escape(str(text))


def _num(x: float | None, fmt: str = ".4f") -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return format(x, fmt)


class _Raw(str):
    """A table cell that is HTML already (:func:`_table` escapes every other cell)."""


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _esc(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class _Figures:
    """Turns figures into embedded ``<figure>`` blocks (nothing touches pyplot or the disk)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.count = 0

    def html(self, fig: Figure, caption: str, alt: str, dpi: int = 80) -> str:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.count += 1
        return (
            f'<figure><img class="plot" alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>"
        )


# --------------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------------
def _summary(ev: Evaluation) -> str:
    labels = list(ev.samples)
    rows = [[name, *(values[label] for label in labels)] for name, values in ev.summary_rows()]
    note = (
        "AUC: classifier two-sample test on the val split after isotonic calibration (0.5 = indistinguishable); "
        "JSD = (ln 2 − BCE)/ln 2. FPD/KPD × 10³ on the high-level features (arXiv:2211.10295). Separation power: "
        "0 = identical histograms, 1 = disjoint (CaloChallenge). Resolution: fit of σ/μ = a/√E ⊕ b, E in GeV."
    )
    return (
        '<h2 id="summary">Summary</h2>'
        + _table(["", *labels], rows, "summary")
        + f'<p class="note">{_esc(note)}</p>'
        + _published(ev)
    )


def _published(ev: Evaluation) -> str:
    key = challenge_dataset(ev.geometry) or ev.geometry.name
    if key not in PUBLISHED:
        return ""
    fidelity, fast, source = PUBLISHED[key]
    return "<h3>Published numbers for this dataset</h3>" + _table(
        ["best fidelity", "fast option", "source"], [[fidelity, fast, source]]
    )


def _setup(ev: Evaluation) -> str:
    g = ev.geometry
    cfg = ev.config
    ref = ev.reference
    rows: list[list[object]] = [
        ["geometry", f"{g.name}: {g.n_layers} readout layers, {g.n_voxels} voxels"],
        ["CaloChallenge dataset", challenge_dataset(g) or "no (data-driven binning where the challenge has none)"],
        ["voxel threshold", f"{ev.threshold:.6g} MeV ({ev.threshold * 1e3:.4g} keV), applied to every sample"],
        [
            "reference",
            f"{ref.source}: {ref.n_showers:,} showers, E_inc {ref.features.energy.min() / 1e3:.4g}–"
            f"{ref.features.energy.max() / 1e3:.4g} GeV",
        ],
    ]
    for label, s in ev.samples.items():
        rows.append([f"generated: {label}", f"{s.source}: {s.n_showers:,} showers"])
    if ev.training is not None:
        rows.append(
            ["training sample (memorisation)", f"{ev.training['source']}: {ev.training['n_showers']:,} showers"]
        )
    cc = cfg.classifier_config
    rows += [
        ["seed", cfg.seed],
        [
            "classifier",
            (
                f"inputs {', '.join(cfg.classifier_inputs)}; {cc.hidden_layers} × {cc.hidden_units} LeakyReLU, "
                f"Adam lr {cc.learning_rate:g}, batch {cc.batch_size}, ≤ {cc.max_epochs} epochs, patience "
                f"{cc.patience}, split {'/'.join(f'{x:g}' for x in cc.split)}"
            )
            if cfg.classifier
            else "not run",
        ],
        [
            "FPD / KPD",
            f"FPD batches {cfg.fpd_min_samples:,}–{cfg.fpd_max_samples:,} (capped at the sample size), "
            f"{cfg.fpd_points} sizes × {cfg.fpd_batches} batches; KPD {cfg.kpd_batches} × {cfg.kpd_batch_size:,}, "
            f"polynomial kernel of degree {cfg.kpd_degree}",
        ],
        [
            "precision/recall/density/coverage",
            f"k = {cfg.prdc_k}, ≤ {cfg.prdc_samples:,} showers per sample, log10 voxel energies",
        ],
    ]
    sources = sorted({b.source for b in ev.binnings.values()})
    rows.append(["histogram binning", ", ".join(sources) + " (docs/evaluation.md); ranges from the reference"])
    return '<h2 id="setup">Setup</h2>' + _table(["item", "value"], rows)


def _classifier(ev: Evaluation, figs: _Figures) -> str:
    if not ev.config.classifier:
        return ""
    from caloforge.validation.plots import classifier_output, fixed_margins, new_figure

    rows = []
    out = ['<h2 id="classifier">Classifier two-sample test</h2>']
    means = []
    for label, s in ev.samples.items():
        for kind in s.classifier:
            runs = s.runs_of(kind)
            summary = s.classifier_summary(kind)
            if len(runs) > 1 and summary is not None:
                means.append(
                    f"{_esc(label)}, {kind}: AUC {summary['auc']:.3f} ± {summary['auc_std']:.3f}, "
                    f"JSD {summary['jsd']:.3f} ± {summary['jsd_std']:.3f} ({len(runs)} runs)"
                )
            for i, r in enumerate(runs):
                rows.append(
                    [
                        label,
                        kind,
                        f"{i + 1} (seed {r.seed})",
                        _num(r.auc),
                        _num(r.jsd),
                        _num(r.auc_uncalibrated),
                        f"{r.best_epoch} / {r.epochs_run}",
                        f"{r.n_per_class['train']:,} / {r.n_per_class['test']:,} / {r.n_per_class['val']:,}",
                        f"{r.seconds:.1f}",
                    ]
                )
    out.append(
        _table(
            [
                "sample",
                "inputs",
                "run",
                "AUC",
                "JSD",
                "AUC (uncalibrated)",
                "best / run epochs",
                "train / test / val per class",
                "time [s]",
            ],
            rows,
        )
    )
    if means:
        out.append(
            "<p>Mean ± standard deviation over the classifier runs (each run its own split, initialisation and "
            "batch order; the plots show the first run): " + "; ".join(means) + ".</p>"
        )
    if figs.enabled:
        for label, s in ev.samples.items():
            if not s.classifier:
                continue
            fig = new_figure(4.2 * len(s.classifier), 3.6)
            fixed_margins(fig, wspace=0.35)
            axes = np.atleast_1d(fig.subplots(1, len(s.classifier)))
            for ax, r in zip(axes, s.classifier.values(), strict=True):
                classifier_output(r, ax=ax, label=label)
            out.append(
                figs.html(
                    fig,
                    f"{label}: calibrated classifier output on the val split, reference (filled) vs generated (line). "
                    "A sample indistinguishable from the reference gives overlapping histograms.",
                    f"classifier output {label}",
                )
            )
    return "".join(out)


def _distances(ev: Evaluation) -> str:
    from caloforge.validation.evaluation import PRDC_KEYS

    rows = []
    for label, s in ev.samples.items():
        p = s.prdc or {}
        rows.append(
            [
                label,
                "–" if s.fpd is None else f"{1e3 * s.fpd.value:.4g} ± {1e3 * s.fpd.error:.2g}",
                "–" if s.kpd is None else f"{1e3 * s.kpd.value:.4g} ± {1e3 * s.kpd.error:.2g}",
                *(_num(p.get(k), ".3f") for k in PRDC_KEYS),
                *(_num(s.projection_mse[a], ".3e") for a in "xyz"),
            ]
        )
    out = [
        '<h2 id="distances">Distances</h2>',
        _table(
            [
                "sample",
                "FPD × 10³",
                "KPD × 10³",
                "precision",
                "recall",
                "density",
                "coverage",
                "spread",
                "proj. MSE x",
                "proj. MSE y",
                "proj. MSE z",
            ],
            rows,
        ),
        '<p class="note">FPD: Fréchet distance of the high-level feature vectors extrapolated to infinite sample size; '
        "KPD: unbiased MMD² with a cubic kernel (arXiv:2211.10295), both × 10³; a sample consistent with the reference "
        "gives values compatible with 0 within the error. Precision/recall/density/coverage (arXiv:2002.09797) on log10 "
        "voxel energies; spread: the generated sample's median k-NN radius over the reference's (≈ 1 for one "
        "distribution; below 1 the generated showers vary less than the reference, which shows as recall ≈ 0 and "
        "density ≫ 1). Projection MSE: mean squared difference of the average x, y, z energy projections, each "
        "divided by the reference's mean E_tot (dimensionless).</p>",
    ]
    if ev.training is not None:
        mrows = []
        for label, s in ev.samples.items():
            m = s.memorisation
            if m is None:
                continue
            verdict = "suspicious: copies training showers" if m["copy_fraction"] > 0.05 else "no sign of copying"
            mrows.append(
                [
                    label,
                    _num(m["median_generated"], ".4g"),
                    _num(m["median_reference"], ".4g"),
                    _num(m["ratio"], ".3f"),
                    f"{100 * m['copy_fraction']:.1f} %",
                    verdict,
                ]
            )
        out += [
            "<h3>Memorisation</h3>",
            _table(
                [
                    "sample",
                    "median NN distance (generated → train)",
                    "median (held-out reference → train)",
                    "ratio",
                    "copies",
                    "verdict",
                ],
                mrows,
            ),
            '<p class="note">Distances in the space of voxel energies / E_inc. "Copies": generated showers closer to '
            "a training shower than 99 % of held-out reference showers are (≈ 1 % expected; &gt; 5 % is flagged).</p>",
        ]
    return "".join(out)


def _response(ev: Evaluation, figs: _Figures) -> str:
    out = ['<h2 id="response">Response and resolution</h2>']
    if figs.enabled:
        from caloforge.validation.plots import fixed_margins, new_figure, resolution_curves

        fig = new_figure(11, 4.2)
        fixed_margins(fig, wspace=0.25)
        ax1, ax2 = fig.subplots(1, 2)
        fits = {"reference": ev.reference.resolution_fit, **{k: s.resolution_fit for k, s in ev.samples.items()}}
        resolution_curves(
            ev.reference.response,
            {k: s.response for k, s in ev.samples.items()},
            fits=fits,
            ax_response=ax1,
            ax_resolution=ax2,
        )
        out.append(
            figs.html(
                fig,
                "Left: mean E_tot/E_inc (response, sampling fraction) in bins of incident energy. Right: relative "
                "resolution σ/μ of E_tot/E_inc with the fit a/√E ⊕ b (E in GeV). Error bars: statistical.",
                "response and resolution",
            )
        )
    rows = []
    for label, pts in [("reference", ev.reference.response), *((k, s.response) for k, s in ev.samples.items())]:
        for p in pts:
            rows.append(
                [
                    label,
                    p.label,
                    f"{p.n:,}",
                    f"{p.mean:.4f} ± {p.mean_error:.4f}",
                    f"{p.resolution:.4f} ± {p.resolution_error:.4f}",
                ]
            )
    out.append(
        "<details><summary>Table of response points</summary>"
        + _table(["sample", "energy bin", "showers", "response", "σ/μ"], rows)
        + "</details>"
    )
    return "".join(out)


def _feature_table(ev: Evaluation, specs: list[FeatureSpec]) -> str:
    header = ["feature", "binning"] + [f"{label}: {m}" for label in ev.samples for m in ("S", "KS", "W1")]
    rows = []
    for spec in specs:
        b = ev.binnings[spec.name]
        row: list[object] = [
            spec.name,
            f"{b.n_bins} {'log ' if b.log else ''}bins [{b.edges[0]:.4g}, {b.edges[-1]:.4g}] {spec.unit} ({b.source})",
        ]
        for s in ev.samples.values():
            m = s.feature_metrics[spec.name]
            row += [_num(m["separation_power"]), _num(m["ks"], ".3f"), _num(m["w1"], ".4g")]
        rows.append(row)
    return _table(header, rows)


def _hist_counts(ev: Evaluation, spec: FeatureSpec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    b = ev.binnings[spec.name]
    ref = histogram(ev.reference.features.column(spec), b)
    gens = {label: histogram(s.features.column(spec), b) for label, s in ev.samples.items()}
    return ref, gens


def _axis_label(spec: FeatureSpec) -> str:
    return spec.label + (f" [{spec.unit}]" if spec.unit else "")


def _log_y(spec: FeatureSpec, counts: np.ndarray) -> bool:
    # layer energies span decades; a spike (e.g. width 0 in a layer of three rows) hides the rest on a linear axis
    total = float(counts.sum())
    return spec.family == "e_layer" or (total > 0 and float(counts.max()) / total > 0.4)


def _single_plot(ev: Evaluation, spec: FeatureSpec, figs: _Figures) -> str:
    from caloforge.validation.plots import compare_histograms, ratio_figure

    fig, ax, rax = ratio_figure(4.8, 4.2)
    ref, gens = _hist_counts(ev, spec)
    seps = {label: s.feature_metrics[spec.name]["separation_power"] for label, s in ev.samples.items()}
    b = ev.binnings[spec.name]
    compare_histograms(
        b.edges,
        ref,
        gens,
        ax=ax,
        rax=rax,
        xlabel=_axis_label(spec),
        separation=seps,
        log_x=b.log,
        log_y=_log_y(spec, ref),
    )
    caption = f"{spec.label}: {b.n_bins} {'log-spaced ' if b.log else ''}bins ({b.source}), unit {spec.unit or 'none'}; S = separation power."
    return figs.html(fig, caption, spec.name)


def _grid_plot(ev: Evaluation, specs: list[FeatureSpec], title: str, figs: _Figures) -> str:
    from caloforge.validation.plots import compare_histograms, fixed_margins, new_figure

    ncols = 5
    nrows = math.ceil(len(specs) / ncols)
    fig = new_figure(2.6 * ncols, 2.2 * nrows + 0.8)
    fixed_margins(fig, left=0.5, top=0.8, bottom=0.4, wspace=0.3, hspace=0.45)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    for ax, spec in zip(axes, specs, strict=False):
        ref, gens = _hist_counts(ev, spec)
        b = ev.binnings[spec.name]
        compare_histograms(b.edges, ref, gens, ax=ax, rax=None, log_x=b.log, log_y=_log_y(spec, ref), ylabel="")
        legend = ax.get_legend()
        if legend is not None and spec is not specs[0]:
            legend.remove()
        seps = ", ".join(f"{s.feature_metrics[spec.name]['separation_power']:.3f}" for s in ev.samples.values())
        ax.set_title(f"layer {spec.layer}: S = {seps}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.minorticks_off()  # small panels: minor ticks are clutter (and half the drawing time)
    for ax in axes[len(specs) :]:
        ax.set_visible(False)
    fig.suptitle(title, y=1 - 0.2 / fig.get_size_inches()[1])
    caption = f"{title} per layer (reference filled, generated lines); S = separation power per generated sample in legend order."
    return figs.html(fig, caption, title, dpi=70)


def _observables(ev: Evaluation, figs: _Figures) -> str:
    out = ['<h2 id="observables">Shower observables</h2>']
    by_family: dict[str, list[FeatureSpec]] = {}
    for spec in ev.specs:
        by_family.setdefault(spec.family, []).append(spec)
    glob = [s for s in ev.specs if s.layer is None]
    out.append("<h3>Total energy and global shape</h3>")
    if figs.enabled:
        out += [_single_plot(ev, s, figs) for s in glob]
        out.append(_voxel_plot(ev, figs))
    out.append(_feature_table(ev, glob))
    for family, (title, _) in _FAMILY_TITLES.items():
        specs = by_family.get(family, [])
        if not specs:
            continue
        out.append(f'<h3 id="obs-{family}">{_esc(title)}</h3>')
        if figs.enabled:
            if len(specs) <= _MAX_SINGLE:
                out += [_single_plot(ev, s, figs) for s in specs]
            else:
                out.append(_grid_plot(ev, specs, title, figs))
        out.append(
            f"<details><summary>Metrics per layer ({len(specs)} features)</summary>{_feature_table(ev, specs)}</details>"
        )
    return "".join(out)


def _correlations(ev: Evaluation, figs: _Figures, n_pairs: int = 10) -> str:
    out = ['<h2 id="correlations">Correlations between observables</h2>']
    names = ev.correlation_names
    for label, s in ev.samples.items():
        c = s.correlations
        if c is None:
            continue
        if len(ev.samples) > 1:
            out.append(f"<h3>{_esc(label)}</h3>")
        if figs.enabled:
            out.append(_correlation_plot(ev, label, figs))
        rows = [
            [
                a,
                b,
                _num(r_ref, "+.3f"),
                _num(r_gen, "+.3f"),
                _num(r_gen - r_ref, "+.3f"),
                _Raw(f'<span class="bad">{pull:+.1f}</span>') if abs(pull) > 5 else f"{pull:+.1f}",
            ]
            for a, b, r_ref, r_gen, pull in c.worst(n_pairs)
        ]
        out.append(_table(["feature", "feature", "ρ reference", "ρ generated", "Δρ", "pull (σ)"], rows))
    out.append(
        f'<p class="note">Spearman rank correlations between E_inc and the {len(names) - 1} histogrammed features '
        "(above), in each sample. The histograms compare one feature at a time; these show whether the features "
        "vary together as in the reference (e.g. the centres of energy of neighbouring layers). Pull: the "
        "difference of Fisher's z = atanh ρ over its standard error, with the variance (1 + ρ²/2)/(n − 3) of "
        "Spearman's z (Bonett &amp; Wright, Psychometrika 65 (2000) 23); about N(0, 1) per pair when both samples "
        f"come from one distribution, so among the {len(names) * (len(names) - 1) // 2} pairs a few beyond ±3 are "
        "expected; beyond ±5 is marked.</p>"
    )
    return "".join(out)


def _correlation_plot(ev: Evaluation, label: str, figs: _Figures) -> str:
    from caloforge.validation.plots import new_figure

    c = ev.samples[label].correlations
    assert c is not None
    k = len(c.names)
    both = np.tril(c.reference, -1) + np.triu(c.generated, 1) + np.diag(np.full(k, np.nan))
    diff = c.difference
    limit = max(0.1, float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 0.1)
    size = 4.0 + 0.14 * k
    fig = new_figure(2 * size + 1.5, size)
    for i, (m, title, vmax, cmap) in enumerate(
        (
            (both, "ρ: reference below, generated above the diagonal", 1.0, "RdBu_r"),
            (diff, "Δρ = generated − reference", limit, "PuOr_r"),
        )
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_xticks(range(k), c.names, rotation=90, fontsize=6)
        ax.set_yticks(range(k), c.names, fontsize=6)
        ax.tick_params(length=0)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    fig.tight_layout()
    return figs.html(
        fig,
        f"{label}: Spearman rank correlations between E_inc and the high-level features (grey: undefined, e.g. a "
        "feature constant in the sample).",
        f"correlations {label}",
    )


def _voxel_plot(ev: Evaluation, figs: _Figures) -> str:
    from caloforge.validation.plots import compare_histograms, ratio_figure

    fig, ax, rax = ratio_figure(5.2, 4.4)
    seps = {label: s.voxel_separation for label, s in ev.samples.items()}
    compare_histograms(
        ev.voxel_binning.edges,
        ev.reference.voxel_counts,
        {label: s.voxel_counts for label, s in ev.samples.items()},
        ax=ax,
        rax=rax,
        xlabel="voxel energy [MeV]",
        separation=seps,
        log_x=True,
        log_y=True,
    )
    return figs.html(
        fig,
        "Voxel energy spectrum: all voxels above the threshold, 50 log-spaced edges (CaloChallenge).",
        "voxel spectrum",
    )


def _shown_layers(n_layers: int, limit: int = 6) -> list[int]:
    if n_layers <= limit:
        return list(range(n_layers))
    return sorted({round(float(x)) for x in np.linspace(0, n_layers - 1, limit)})


def _images(ev: Evaluation, figs: _Figures) -> str:
    if not figs.enabled:
        return ""
    from caloforge.geometry.core import CylindricalBins
    from caloforge.validation.plots import compare_histograms, fixed_margins, layer_image, new_figure, ratio_figure

    g = ev.geometry
    layers = _shown_layers(g.n_layers)
    rows = [("reference", ev.reference.mean_shower)] + [(k, s.mean_shower) for k, s in ev.samples.items()]
    fig = new_figure(2.9 * len(layers) + 1.2, 2.7 * len(rows))
    fixed_margins(fig, left=0.7, right=1.2, top=0.35, bottom=0.5)
    grid = fig.add_gridspec(len(rows), len(layers), wspace=0.45, hspace=0.45)
    mesh = None
    for j, layer in enumerate(layers):
        sl = g.layer_slice(layer)
        ref_vals = ev.reference.mean_shower[sl]
        positive = ref_vals[ref_vals > 0]
        vmax = float(positive.max()) if positive.size else 1.0
        vmin = max(float(positive.min()) if positive.size else vmax * 1e-4, vmax * 1e-4)
        polar = isinstance(g.layers[layer].segmentation, CylindricalBins)
        for i, (label, mean) in enumerate(rows):
            ax = fig.add_subplot(grid[i, j], projection="polar" if polar else None)
            mesh = layer_image(mean[sl], g, layer, ax=ax, vmin=vmin, vmax=vmax, title=f"{label}: layer {layer}")
            ax.title.set_fontsize(9)
            ax.tick_params(labelsize=7)
            if not polar:
                ax.xaxis.label.set_fontsize(8)
                ax.yaxis.label.set_fontsize(8)
    if mesh is not None:
        cax = fig.add_axes((1 - 0.95 / fig.get_size_inches()[0], 0.15, 0.12 / fig.get_size_inches()[0], 0.7))
        fig.colorbar(mesh, cax=cax, label="mean energy per voxel [MeV]")
    shown = "" if len(layers) == g.n_layers else f" (layers {', '.join(map(str, layers))} of {g.n_layers})"
    out = [
        '<h2 id="images">Average showers and profiles</h2>',
        figs.html(
            fig,
            f"Mean energy per voxel{shown}; one colour scale per layer set by the reference (log scale, MeV). "
            "Cylindrical layers are drawn in (α, r); wide dataset-1 binnings on a log10(1 + r/mm) radius.",
            "average shower images",
        ),
    ]
    # profiles: longitudinal, x and y projections, radial
    profiles = [("z", "mean energy per readout layer", "readout layer")]
    has_x, has_y = layer_axes(g)
    if any(has_x):
        profiles.append(("x", "x projection of the mean shower", "x [mm]"))
    if any(has_y):
        profiles.append(("y", "y projection of the mean shower", "y [mm]"))
    for axis, title, xlabel in profiles:
        fig, ax, rax = ratio_figure(5.0, 4.2)
        edges, ref_p = ev.reference.projections[axis]
        compare_histograms(
            edges,
            ref_p,
            {k: s.projections[axis][1] for k, s in ev.samples.items()},
            ax=ax,
            rax=rax,
            xlabel=xlabel,
            ylabel="fraction of the energy",
            log_y=axis == "z",
        )
        ax.set_title(title)
        out.append(
            figs.html(
                fig,
                f"{title} (3DGAN projection), normalised to unit sum; projection MSE in the distances table.",
                f"profile {axis}",
            )
        )
    r = g.voxel_r()
    edges = _radial_edges(r)
    fig, ax, rax = ratio_figure(5.0, 4.2)
    ref_r = np.histogram(r, edges, weights=ev.reference.mean_shower)[0]
    compare_histograms(
        edges,
        ref_r,
        {k: np.histogram(r, edges, weights=s.mean_shower)[0] for k, s in ev.samples.items()},
        ax=ax,
        rax=rax,
        xlabel="voxel-centre radius r [mm]",
        ylabel="fraction of the energy",
        log_y=True,
    )
    ax.set_title("radial profile of the mean shower")
    out.append(
        figs.html(
            fig,
            "Radial profile: mean energy by voxel-centre radius (all layers), normalised to unit sum.",
            "radial profile",
        )
    )
    return "".join(out)


def _radial_edges(r: np.ndarray) -> np.ndarray:
    """Bins that hold each distinct voxel-centre radius (edges halfway between them), or 30 equal bins."""
    values = np.unique(np.round(r, 6))
    if 2 <= values.size <= 60:
        mid = 0.5 * (values[1:] + values[:-1])
        return np.concatenate(
            [[max(0.0, values[0] - (mid[0] - values[0]))], mid, [values[-1] + (values[-1] - mid[-1])]]
        )
    return np.linspace(0.0, float(r.max()) * 1.0001 + 1e-9, 31)


def _energy_bins(ev: Evaluation, figs: _Figures) -> str:
    if not ev.breakdown_bins:
        return ""
    out = ['<h2 id="energy-bins">Per incident-energy bin</h2>']
    rows = []
    for label, s in ev.samples.items():
        for entry in s.energy_bins:
            if "note" in entry:
                rows.append(
                    [label, entry["label"], entry["n_reference"], entry["n_generated"], entry["note"], "", "", "", ""]
                )
                continue
            worst = ", ".join(f"{k} {v:.3f}" for k, v in entry["worst_features"])
            rows.append(
                [
                    label,
                    entry["label"],
                    f"{entry['n_reference']:,}",
                    f"{entry['n_generated']:,}",
                    _num(entry["separation_power_etot_over_einc"]),
                    _num(entry["separation_power_mean"]),
                    worst,
                    f"{entry['response_reference']:.4f} / {entry['response_generated']:.4f}",
                    f"{_num(entry['resolution_reference'])} / {_num(entry['resolution_generated'])}",
                ]
            )
    out.append(
        _table(
            [
                "sample",
                "E_inc bin",
                "ref. showers",
                "gen. showers",
                "S(E_tot/E_inc)",
                "mean S",
                "worst features",
                "response ref / gen",
                "σ/μ ref / gen",
            ],
            rows,
        )
    )
    if figs.enabled:
        from caloforge.validation.evaluation import energy_bin_response_binning
        from caloforge.validation.plots import compare_histograms, fixed_margins, new_figure

        ds = challenge_dataset(ev.geometry)
        bins = ev.breakdown_bins
        ncols = min(4, len(bins))
        nrows = math.ceil(len(bins) / ncols)
        fig = new_figure(3.1 * ncols, 2.6 * nrows + 0.8)
        fixed_margins(fig, left=0.5, top=0.8, bottom=0.4, wspace=0.3, hspace=0.45)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
        ref = ev.reference.features
        for i, (ax, b) in enumerate(zip(axes, bins, strict=False)):
            rm = b.mask(ref.energy)
            binning = energy_bin_response_binning(ref.etot_over_einc[rm], ds, i)
            gens = {
                k: histogram(s.features.etot_over_einc[b.mask(s.features.energy)], binning)
                for k, s in ev.samples.items()
            }
            compare_histograms(
                binning.edges, histogram(ref.etot_over_einc[rm], binning), gens, ax=ax, rax=None, ylabel=""
            )
            legend = ax.get_legend()
            if legend is not None and i > 0:
                legend.remove()
            ax.set_title(b.label, fontsize=9)
            ax.tick_params(labelsize=7)
            ax.minorticks_off()
        for ax in axes[len(bins) :]:
            ax.set_visible(False)
        fig.suptitle("E_tot / E_inc per incident-energy bin", y=1 - 0.2 / fig.get_size_inches()[1])
        out.append(
            figs.html(
                fig,
                "E_tot/E_inc in each incident-energy bin (dataset 1: CaloChallenge binning; otherwise 50 bins over the "
                "reference's range in the bin).",
                "response per energy bin",
                dpi=75,
            )
        )
    return "".join(out)


def _timings(ev: Evaluation) -> str:
    rows: list[list[object]] = [
        ["reference", "features, binnings, profiles", f"{ev.seconds.get('reference', 0.0):.2f}"]
    ]
    for label, s in ev.samples.items():
        for stage, sec in s.seconds.items():
            rows.append([label, stage, f"{sec:.2f}"])
    return '<h2 id="timings">Evaluation timings</h2>' + _table(["sample", "stage", "seconds"], rows)


def render_html(ev: Evaluation, *, plots: bool = True) -> str:
    """The report page as one HTML string (PNG plots embedded as data URIs; no external resources)."""
    from caloforge._version import __version__

    figs = _Figures(plots)
    parts = [_summary(ev), _setup(ev)]
    if plots:
        from caloforge.validation.plots import hep_style

        with hep_style():
            parts += [
                _classifier(ev, figs),
                _distances(ev),
                _response(ev, figs),
                _observables(ev, figs),
                _correlations(ev, figs),
                _images(ev, figs),
                _energy_bins(ev, figs),
            ]
    else:
        parts += [
            _classifier(ev, figs),
            _distances(ev),
            _response(ev, figs),
            _observables(ev, figs),
            _correlations(ev, figs),
            _energy_bins(ev, figs),
        ]
    parts.append(_timings(ev))
    labels = ", ".join(ev.samples)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("summary", "Summary"),
            ("setup", "Setup"),
            ("classifier", "Classifier"),
            ("distances", "Distances"),
            ("response", "Response"),
            ("observables", "Observables"),
            ("correlations", "Correlations"),
            ("images", "Average showers"),
            ("energy-bins", "Energy bins"),
            ("timings", "Timings"),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>caloforge evaluation: {_esc(labels)}</title><style>{_CSS}</style></head>"
        f'<body data-plots-embedded="{figs.count}"><header><h1>Shower evaluation: {_esc(labels)} vs reference</h1>'
        f"<p>{_esc(ev.geometry.name)} · threshold {ev.threshold:.4g} MeV · seed {ev.config.seed} · "
        f"caloforge {_esc(__version__)} · {when}</p></header><nav>{nav}</nav><main>"
        + "".join(parts)
        + f"</main><script>{_SCRIPT}</script></body></html>\n"
    )


def write_report(ev: Evaluation, output: str | Path, *, plots: bool = True) -> Path:
    """Write ``output/index.html`` and ``output/metrics.json``; returns the path of index.html.

    Raises:
        DataFormatError: ``output`` exists and is not a folder, or cannot be created.
    """
    from caloforge.io.files import atomic_path

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise DataFormatError(f"report folder {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFormatError(f"cannot create report folder {str(out)!r}: {exc.strerror}") from None
    metrics = ev.metrics()
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, allow_nan=False) + "\n")
    page = render_html(ev, plots=plots)
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "index.html"
