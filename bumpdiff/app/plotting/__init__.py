"""Drawing the figures from loaded results, one module per family of figures; they never compute a result.

Every drawing function runs in the figures' style (:func:`style`), never changing matplotlib's global state.
"""
from .calibration import calibrated_portrait, noise_and_samplers, phantom_measures
from .data_model import data_figure, model_figure
from .explorer import explorer_view
from .panels import layer_profile, phase_bands, sample_grid, umap_panels
from .readouts import order_over_training, phase_portrait
from .stripes import composition_figure, efficiency_figure, percolation_figure
from .studies import (
    TORUS_STYLE,
    atlas_heatmaps,
    commitment_over_training,
    spectrum_over_training,
    torus_topology,
)
from .style import LABEL_COLORS, PHASE_COLORS, STYLE, figure_dir, save, style, styled
from .training import (
    holdout_curves,
    learning_curves,
    loss_curve,
    per_axis_curves,
    phases_figure,
    robustness,
    seed_phases,
)

__all__ = ["phantom_measures", "noise_and_samplers", "calibrated_portrait", "composition_figure", "efficiency_figure",
           "percolation_figure",
           "PHASE_COLORS", "LABEL_COLORS", "STYLE", "style", "styled", "figure_dir", "save", "sample_grid",
           "umap_panels", "phase_bands", "data_figure", "model_figure", "learning_curves", "seed_phases",
           "per_axis_curves", "holdout_curves", "phases_figure", "loss_curve", "robustness", "commitment_over_training",
           "spectrum_over_training", "atlas_heatmaps", "layer_profile", "TORUS_STYLE", "torus_topology",
           "phase_portrait", "order_over_training", "explorer_view"]
