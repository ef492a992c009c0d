"""The latent-manifold analysis in one import (the names notebooks use).

The work is done in modules with one job each: :mod:`bumpdiff.activations` (activations over a grid of
conditions), :mod:`bumpdiff.order` (UMAP and order parameters), :mod:`bumpdiff.phases` (the phase call) and
:mod:`bumpdiff.analysis` (analysis of a run's checkpoints into a results bundle).
"""
from .activations import MODES, collect_activations, latent_grid
from .analysis import (
                     ANALYSIS_PROFILES,
                     AnalysisConfig,
                     BundleError,
                     analyze,
                     analyze_checkpoint,
                     bundle_dir,
                     load_bundle,
)
from .order import UMAP_PARAMS, embed, intrinsic_dim, order_parameters
from .phases import (
                     PHASE_THRESHOLDS,
                     PhaseThresholds,
                     call_phase,
                     describe_sequence,
                     phase_onsets,
                     phase_sequence,
                     recall,
)
from .robustness import layer_timestep_sweep

__all__ = ["collect_activations", "latent_grid", "MODES", "embed", "intrinsic_dim", "order_parameters", "UMAP_PARAMS",
           "call_phase", "recall", "PhaseThresholds", "PHASE_THRESHOLDS", "phase_sequence", "describe_sequence",
           "phase_onsets", "AnalysisConfig", "ANALYSIS_PROFILES", "analyze", "analyze_checkpoint", "load_bundle",
           "bundle_dir", "BundleError", "layer_timestep_sweep"]
