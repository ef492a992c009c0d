"""Persistent homology of point clouds with known topology: the ideal tori, a circle, and tori hidden in many
dimensions (the detector of bumpdiff.analysis.topology)."""
import numpy as np
import pytest

from bumpdiff.analysis.topology import Topology, feature_count, ideal_tori, normalise, persistence, topology_rows

N = 32
SIDE = np.arange(24) + 0.5
GRID = np.stack(np.meshgrid(SIDE, SIDE), -1).reshape(-1, 2) * (N / 24)
SPEC = Topology(n_landmarks=200)


def hidden(X, dim=64, noise=0.0, seed=0):
    """``X`` rotated into ``dim`` dimensions by a random orthonormal map, plus isotropic noise."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(dim, X.shape[1])))
    return X @ Q.T + noise * rng.normal(size=(len(X), dim))


@pytest.fixture(scope="module")
def tori():
    return ideal_tori(GRID, N, SPEC.torus_radii)


@pytest.mark.parametrize("name", ["coupled", "factorised"])
def test_an_ideal_torus_has_two_circles_and_one_cavity(tori, name):
    dgms = persistence(tori[name], maxdim=2, n_landmarks=SPEC.n_landmarks)
    life = [d[:, 1] - d[:, 0] for d in dgms]
    assert feature_count(life[1]) == 2 and feature_count(life[2]) == 1


def test_a_circle_has_one_loop():
    th = 2 * np.pi * np.arange(200) / 200
    dgms = persistence(hidden(np.c_[np.cos(th), np.sin(th)], dim=16, noise=0.01), maxdim=1, n_landmarks=100)
    assert feature_count(dgms[1][:, 1] - dgms[1][:, 0]) == 1


def test_feature_count_reads_the_largest_gap():
    assert feature_count([1.0, 0.95, 0.1, 0.09, 0.08]) == 2
    assert feature_count([0.9, 0.1, 0.1]) == 1
    assert feature_count([]) == 0
    assert feature_count([0.5, 0.5, 0.5, 0.5, 0.49, 0.01], max_features=10) == 5


@pytest.mark.parametrize("truth, other", [("factorised", "coupled"), ("coupled", "factorised")])
def test_a_torus_hidden_in_many_dimensions_is_closest_to_its_own_kind(tori, truth, other):
    """A learned latent that *is* one of the ideal tori (rotated into 64 dimensions, scaled, with a little
    noise) is found to be a torus, and nearer (bottleneck) to the ideal torus of its kind than to the other."""
    acts = {"latent": 7.0 * hidden(tori[truth], noise=0.02, seed=3)}
    rows = {r["layer"]: r for r in topology_rows(acts, GRID, N, SPEC)}
    r = rows["latent"]
    assert r["h1"]["count"] == 2 and r["h2"]["count"] == 1
    assert r["bottleneck"]["h1"][truth] < r["bottleneck"]["h1"][other]
    assert rows["coupled"]["h1"]["count"] == 2 and rows["factorised"]["h1"]["count"] == 2


def test_wide_latents_are_read_through_their_principal_components_with_the_same_distances(tori):
    """A latent with more features than conditions gives the same diagram as its scores on every component."""
    X = hidden(tori["factorised"][::4], dim=400, noise=0.05, seed=1)      # 144 points in 400 dimensions
    a = persistence(X, maxdim=1, n_landmarks=1000)
    b = persistence(X @ np.linalg.qr(np.random.default_rng(2).normal(size=(400, 400)))[0], maxdim=1, n_landmarks=1000)
    assert np.allclose(np.sort(a[1], axis=0), np.sort(b[1], axis=0), atol=1e-6)


def test_a_cloud_with_as_many_points_as_coordinates_is_read_as_points(recwarn):
    """M points in M dimensions (a 32 × 32 output layer over 1,024 conditions) are a point cloud, not a distance
    matrix: the same diagram as with one more, constant, coordinate, and no warning that says otherwise."""
    X = hidden(np.c_[np.cos(2 * np.pi * np.arange(64) / 64), np.sin(2 * np.pi * np.arange(64) / 64)], dim=64,
               noise=0.01)
    a = persistence(X, maxdim=1, n_landmarks=100)
    b = persistence(np.c_[X, np.zeros(len(X))], maxdim=1, n_landmarks=100)
    assert np.allclose(np.sort(a[1], axis=0), np.sort(b[1], axis=0), atol=1e-9)
    assert feature_count(a[1][:, 1] - a[1][:, 0]) == 1
    assert not [w for w in recwarn if "square" in str(w.message)]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no extent"):
        normalise(np.ones((10, 3)))
    with pytest.raises(ValueError, match="torus_radii"):
        Topology(torus_radii=(1.0, 2.0))
    with pytest.raises(ValueError, match="maxdim"):
        Topology(maxdim=3)


def test_the_study_refuses_a_run_on_a_plain_canvas():
    from bumpdiff.analysis.studies import run_study
    from bumpdiff.experiments.profiles import get_profile
    with pytest.raises(ValueError, match="periodic"):
        run_study(Topology(), None, get_profile("smoke").train)


def test_the_figure_draws_a_chosen_tracked_checkpoint_and_names_the_others(tori):
    """Figure 10 shows the last tracked checkpoint unless told another; a step that was not tracked is refused
    with the steps that were."""
    import matplotlib
    matplotlib.use("Agg")
    from bumpdiff.app.plotting import torus_topology
    small = Topology(n_landmarks=60)
    rows = {s: topology_rows({"mid": hidden(tori["coupled"], noise=0.02 * s, seed=s)}, GRID, N, small)
            for s in (10, 20)}
    data = {"checkpoints": {str(s): {"step": s, "rows": rows[s]} for s in (10, 20)}}
    records = [{"step": s, "phase": "A", "accuracy": 0.0, "knn_r2_x": 0.0, "knn_r2_y": 0.0, "n": 1} for s in (10, 20)]
    titles = lambda fig: [a.get_title() for a in fig.axes]                                    # noqa: E731
    assert "(b) H1 lifetimes, step 20" in titles(torus_topology(data, records))
    assert "(b) H1 lifetimes, step 10" in titles(torus_topology(data, records, step=10))
    with pytest.raises(ValueError, match=r"step must be one of the tracked checkpoints \[10, 20\], got 30"):
        torus_topology(data, records, step=30)
