"""Tests for repdyn.topology: exactness against gudhi and known Betti numbers."""

import gudhi
import numpy as np
import pytest

from repdyn.topology import (
    betti0_curve,
    betti_curve_from_diagram,
    betti_curves,
    bottleneck,
    eps_grid,
    h0_death_times,
    matched_scale,
    normalise_cloud,
    ordinal,
    persistence_diagrams,
    summary_scale,
)


def gudhi_h0_bars(points):
    """All H0 bars of gudhi's Rips filtration, zero-length ones included."""
    simplex_tree = gudhi.RipsComplex(points=points).create_simplex_tree(max_dimension=1)
    simplex_tree.persistence(min_persistence=-1)
    return simplex_tree.persistence_intervals_in_dimension(0)


def cloud_with_duplicates(n, d, seed):
    """A Gaussian cloud where a fifth of the points repeat others exactly."""
    points = np.random.default_rng(seed).standard_normal((n, d))
    n_repeated = n // 5
    points[:n_repeated] = points[n - n_repeated :]
    return points


def blobs(n_per_blob=40, seed=0):
    """Three tight 2-D Gaussian blobs (std 0.1) at the corners of a side-10 triangle."""
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.66]])
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [c + 0.1 * rng.standard_normal((n_per_blob, 2)) for c in centres]
    )


def circle(n=60, seed=0):
    """Points on the unit circle with a little radial noise."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = 1 + 0.02 * rng.standard_normal(n)
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


@pytest.mark.parametrize("n", [5, 50, 300])
@pytest.mark.parametrize("d", [1, 2, 10, 100])
def test_h0_death_times_equal_gudhi_rips_bars(n, d):
    points = cloud_with_duplicates(n, d, seed=10 * n + d)
    bars = gudhi_h0_bars(points)

    deaths = h0_death_times(points)

    finite = np.sort(bars[np.isfinite(bars[:, 1]), 1])
    assert np.count_nonzero(np.isinf(bars[:, 1])) == 1
    assert len(deaths) == len(finite) == n - 1
    np.testing.assert_allclose(deaths, finite, rtol=0, atol=1e-9)
    assert np.count_nonzero(deaths == 0) >= n // 5


def test_h0_death_times_exact_for_near_duplicates_far_from_origin():
    rng = np.random.default_rng(3)
    points = 1000.0 + rng.standard_normal((200, 50))
    points[100:150] = points[:50] + 1e-7 * rng.standard_normal((50, 50))

    deaths = h0_death_times(points)

    bars = gudhi_h0_bars(points)
    np.testing.assert_allclose(
        deaths, np.sort(bars[np.isfinite(bars[:, 1]), 1]), rtol=0, atol=1e-9
    )


def test_h0_death_times_small_and_invalid_clouds():
    assert h0_death_times(np.zeros((1, 3))).shape == (0,)
    np.testing.assert_array_equal(h0_death_times(np.zeros((4, 2))), np.zeros(3))
    np.testing.assert_allclose(h0_death_times([[0.0], [3.0], [1.0]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="2-D"):
        h0_death_times(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        h0_death_times(np.array([[0.0, np.nan], [1.0, 1.0]]))


def test_betti0_curve_counts_components_and_never_increases():
    deaths = h0_death_times(np.random.default_rng(0).standard_normal((500, 5)))
    grid = np.linspace(0, deaths.max() * 1.1, 200)

    betti0 = betti0_curve(deaths, grid)

    assert betti0[0] == 500 and betti0[-1] == 1
    assert np.all(np.diff(betti0) <= 0)
    # An edge of length exactly eps is present, so its merge has happened at eps.
    np.testing.assert_array_equal(
        betti0_curve([1.0, 2.0], [0.5, 1.0, 1.5, 2.0]), [3, 2, 2, 1]
    )


def test_three_separated_blobs_have_three_components_over_a_range():
    deaths = h0_death_times(blobs())

    betti0 = betti0_curve(deaths, np.geomspace(1.0, 8.0, 20))

    np.testing.assert_array_equal(betti0, 3)


@pytest.mark.parametrize(
    "n, text",
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (10, "10th"), (11, "11th"),
     (12, "12th"), (13, "13th"), (21, "21st"), (102, "102nd"), (111, "111th")],
)  # fmt: skip
def test_ordinal(n, text):
    assert ordinal(n) == text


def test_summary_scale_is_middle_of_the_n_classes_range():
    eps, description = summary_scale(np.array([0.1, 10.0, 0.2, 5.0]), n_classes=3)

    assert eps == pytest.approx(1.0)
    assert "exactly 3 components" in description
    assert "the 3rd and 2nd largest H0 death times" in description
    deaths = h0_death_times(blobs())
    eps, _ = summary_scale(deaths, n_classes=3)
    assert betti0_curve(deaths, [eps])[0] == 3
    with pytest.raises(ValueError, match="at least 2"):
        summary_scale(deaths, n_classes=1)


def test_matched_scale_carries_eps_by_the_ratio_of_median_spacings():
    eps, description = matched_scale(
        0.6, np.array([0.1, 0.2, 0.3]), np.array([0.05, 0.1, 0.9])
    )

    assert eps == pytest.approx(0.3)  # 0.6 * 0.1 / 0.2
    assert "median H0 death" in description


def test_matched_scale_of_a_rescaled_cloud_counts_the_same_components():
    # The same blobs with their within-blob scatter halved, as a decoder smooths:
    # the median spacing halves, so does the matched eps, and it still sees 3 blobs.
    points, labels = blobs(), np.repeat(np.arange(3), 40)
    centres = np.stack([points[labels == c].mean(0) for c in range(3)])
    smooth = centres[labels] + 0.5 * (points - centres[labels])
    reference, deaths = h0_death_times(points), h0_death_times(smooth)
    eps, _ = summary_scale(reference, n_classes=3)

    matched, _ = matched_scale(eps, reference, deaths)

    assert matched == pytest.approx(0.5 * eps)
    assert betti0_curve(deaths, [matched])[0] == 3


def test_matched_scale_refuses_a_cloud_of_duplicates():
    with pytest.raises(ValueError, match="duplicates"):
        matched_scale(1.0, np.array([0.1, 0.2]), np.array([0.0, 0.0, 0.3]))


def test_circle_has_one_loop_over_a_range_of_scales():
    grid = np.linspace(0.5, 1.6, 12)  # the widest gap between neighbours is 0.35

    diagrams = persistence_diagrams(circle(), max_edge_length=2.0)

    np.testing.assert_array_equal(betti_curve_from_diagram(diagrams[1], grid), 1)
    np.testing.assert_array_equal(betti_curve_from_diagram(diagrams[0], grid), 1)


def test_persistence_diagrams_with_collapse_equal_plain_gudhi():
    points = np.random.default_rng(5).standard_normal((60, 3))
    simplex_tree = gudhi.RipsComplex(points=points).create_simplex_tree(max_dimension=2)
    simplex_tree.persistence()

    diagrams = persistence_diagrams(points)

    for dim in (0, 1):
        expected = simplex_tree.persistence_intervals_in_dimension(dim)
        assert bottleneck(diagrams[dim], expected) < 1e-9
        assert len(diagrams[dim]) == len(expected)
    assert np.count_nonzero(np.isinf(diagrams[0][:, 1])) == 1


def test_persistence_diagrams_keep_h1_when_collapse_leaves_no_triangles():
    diagrams = persistence_diagrams(circle(), max_edge_length=1.4)

    np.testing.assert_allclose(diagrams[1][:, 1], [np.inf])


def test_persistence_diagrams_subsample_is_seeded():
    points = circle(n=300)

    first = persistence_diagrams(points, max_points=50, seed=1)
    again = persistence_diagrams(points, max_points=50, seed=1)

    assert len(first[0]) == 50
    np.testing.assert_array_equal(first[1], again[1])


def test_betti_curve_from_diagram_counts_bars_alive():
    diagram = np.array([[0.0, 1.0], [0.5, np.inf], [2.0, 3.0]])

    betti = betti_curve_from_diagram(diagram, [0.0, 0.5, 1.0, 2.5, 3.0])

    np.testing.assert_array_equal(betti, [1, 2, 1, 2, 1])
    assert betti_curve_from_diagram(np.empty((0, 2)), [1.0]).tolist() == [0]


def test_normalise_cloud_has_zero_mean_and_unit_rms_norm():
    points = 5.0 + 3.0 * np.random.default_rng(0).standard_normal((400, 7))

    normalised = normalise_cloud(points.astype(np.float32))

    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised.mean(axis=0), 0, atol=1e-6)
    assert np.sqrt(np.mean(np.sum(normalised.astype(np.float64) ** 2, axis=1))) == (
        pytest.approx(1.0, abs=1e-6)
    )
    with pytest.raises(ValueError, match="identical"):
        normalise_cloud(np.ones((3, 2)))


def test_eps_grid_covers_every_cloud():
    deaths = [h0_death_times(blobs()), h0_death_times(circle())]

    grid = eps_grid(deaths, n=32)

    assert grid.shape == (32,) and np.all(np.diff(grid) > 0)
    assert grid[-1] == max(d.max() for d in deaths)
    for cloud_deaths in deaths:
        assert betti0_curve(cloud_deaths, grid)[-1] == 1
        assert betti0_curve(cloud_deaths, grid[:1])[0] >= 0.98 * (len(cloud_deaths) + 1)


def test_betti_curves_tidy_table():
    grid = np.linspace(0.5, 1.4, 5)
    clouds = {"blobs": normalise_cloud(blobs()), "circle": circle()}

    table = betti_curves(clouds, grid, progress=False)
    without_beta1 = betti_curves(clouds, grid, beta1=False, progress=False)

    assert list(table.columns) == ["name", "eps", "betti0", "betti1"]
    assert table["name"].tolist() == ["blobs"] * 5 + ["circle"] * 5
    circle_rows = table[table["name"] == "circle"]
    np.testing.assert_array_equal(circle_rows["betti1"], 1.0)
    np.testing.assert_array_equal(circle_rows["betti0"], 1)
    assert without_beta1["betti1"].isna().all()
    np.testing.assert_array_equal(without_beta1["betti0"], table["betti0"])


def test_bottleneck_drops_or_caps_infinite_bars():
    first = np.array([[0.0, 1.0], [0.0, np.inf]])
    second = np.array([[0.0, 1.5], [0.0, np.inf]])

    assert bottleneck(first, first) == pytest.approx(0.0, abs=1e-12)
    assert bottleneck(first, second) == pytest.approx(0.5)
    assert bottleneck(first, second[:1]) == pytest.approx(0.5)
    # Capped at 4, the essential bar is matched to the diagonal at (4 - 0) / 2.
    assert bottleneck(first, second[:1], cap=4.0) == pytest.approx(2.0)
