"""fastnn.plot: every picture is a real PNG; bad input is refused; matplotlib stays optional."""
import struct
import subprocess
import sys

import numpy as np
import pytest

import fastnn.plot as plot
from fastnn.callbacks import GradientStats, History
from fastnn.plot._figure import MISSING_MATPLOTLIB, grid_shape
from fastnn.plot.image_grids import _colours_in_unit_range

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)
HISTORY = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.9],
           "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.45, 0.6, 0.6]}
RECORD = {"step": [0, 1, 2], "norms": {"dense": [1e-6, 2e-6, 1e-6], "dense_1": [0.1, 0.2, 0.1]}}

# one valid call per function: (function, positional arguments before path, keyword arguments)
CALLS = {
    "history": (plot.history, (HISTORY,), {"metrics": ("loss", "accuracy"), "title": "curves"}),
    "activation_functions": (plot.activation_functions, (["sigmoid", "tanh", "relu"],), {}),
    "images": (plot.images, (RNG.uniform(size=(5, 8, 8)),), {"titles": list("abcde")}),
    "images_rgb": (plot.images, (RNG.uniform(0, 255, size=(2, 8, 8, 3)),), {"ncols": 1}),
    "filters": (plot.filters, (RNG.normal(size=(3, 3, 2, 2)),), {"title": "kernel"}),
    "feature_maps": (plot.feature_maps, (RNG.normal(size=(1, 10, 10, 3)),), {}),
    "gradient_stats": (plot.gradient_stats, (RECORD,), {"title": "gradients"}),
    "weight_histograms": (plot.weight_histograms,
                          ({"N(0, 1)": RNG.normal(size=500), "small": RNG.normal(0, .1, 500)},), {}),
    "weight_histograms_own_axes": (plot.weight_histograms, ({"w": RNG.normal(size=(20, 30))},),
                                   {"sharex": False}),
    "clusters": (plot.clusters, (RNG.normal(size=(30, 2)), RNG.integers(0, 3, 30)),
                 {"centers": RNG.normal(size=(3, 2))}),
    "series": (plot.series,
               ({"truth": np.sin(np.arange(40) / 5), "model": RNG.normal(size=35)},),
               {"title": "next value"}),
}


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib")


def png_size(path):
    """(width, height) in pixels from a PNG's IHDR chunk; checks the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000, f"{path.name} is (nearly) empty: {len(data)} bytes"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("case", CALLS)
def test_every_function_writes_a_png_and_returns_its_path(case, tmp_path, matplotlib):
    function, args, kwargs = CALLS[case]
    path = tmp_path / "new" / "folder" / f"{case}.png"   # parent folders are created
    assert function(*args, str(path), **kwargs) == path
    width, height = png_size(path)
    assert width > 100 and height > 100


def test_history_draws_one_panel_per_metric_from_a_history_object(tmp_path, matplotlib):
    history = History()
    history.history = HISTORY
    one = png_size(plot.history(history, tmp_path / "one.png"))
    two = png_size(plot.history(history, tmp_path / "two.png", metrics=("loss", "accuracy")))
    assert two[0] == 2 * one[0] and two[1] == one[1]


def test_gradient_stats_takes_the_callback_itself(tmp_path, matplotlib):
    stats = GradientStats()
    stats.record = RECORD
    png_size(plot.gradient_stats(stats, tmp_path / "g.png"))


@pytest.mark.parametrize("count, ncols, expected", [
    (1, None, (1, 1)), (4, None, (2, 2)), (10, None, (3, 4)), (32, None, (6, 6)),
    (10, 5, (2, 5)), (3, 8, (1, 3))])
def test_grid_shape(count, ncols, expected):
    assert grid_shape("images", count, ncols) == expected


def test_colour_images_are_brought_into_the_unit_range():
    unit = np.array([[[0.2, 0.5, 1.0]]])
    np.testing.assert_array_equal(_colours_in_unit_range(unit), unit)   # already fine
    np.testing.assert_allclose(_colours_in_unit_range(np.array([[[0.0, 51.0, 255.0]]])),
                               [[[0.0, 0.2, 1.0]]])                      # 8-bit values
    np.testing.assert_allclose(_colours_in_unit_range(np.array([[[-2.0, 0.0, 2.0]]])),
                               [[[0.0, 0.5, 1.0]]])                      # anything else: stretched


BAD_INPUT = [
    (plot.history, ({"loss": [1.0]},), {"metrics": "accuracy"}, ValueError, "no 'accuracy'"),
    (plot.history, ({"loss": [1.0], "val_loss": [1.0, 2.0]},), {}, ValueError, "1 epochs but"),
    (plot.history, ({"loss": [1.0]},), {"metrics": ()}, ValueError, "metrics is empty"),
    (plot.history, ([1.0, 2.0],), {}, TypeError, "History"),
    (plot.activation_functions, (["relu", "nope"],), {}, ValueError, "Unknown activation"),
    (plot.activation_functions, ("softmax",), {}, ValueError, "not element-wise"),
    (plot.activation_functions, ([],), {}, ValueError, "names is empty"),
    (plot.activation_functions, ([len],), {}, TypeError, "strings"),
    (plot.activation_functions, ("relu",), {"x_range": (5, -5)}, ValueError, "low < high"),
    (plot.activation_functions, ("relu",), {"x_range": (0, np.inf)}, ValueError, "finite"),
    (plot.activation_functions, ("relu",), {"x_range": 3}, ValueError, "pair"),
    (plot.images, (np.zeros((8, 8)),), {}, ValueError, "3-D or 4-D"),
    (plot.images, (np.zeros((2, 8, 8, 4)),), {}, ValueError, "1 .grey. or 3 .RGB."),
    (plot.images, (np.zeros((2, 8, 8)),), {"titles": ["a"]}, ValueError, "2 images but 1"),
    (plot.images, (np.zeros((2, 8, 8)),), {"ncols": 0}, ValueError, "ncols"),
    (plot.images, (np.full((2, 8, 8), np.nan),), {}, ValueError, "NaN"),
    (plot.images, (np.zeros((0, 8, 8)),), {}, ValueError, "empty"),
    (plot.images, ([["a"]],), {}, ValueError, "real numbers"),
    (plot.images, (np.zeros((2, 8, 8)),), {"title": 5}, TypeError, "title"),
    (plot.filters, (np.zeros((3, 3, 2)),), {}, ValueError, "4-D"),
    (plot.feature_maps, (np.zeros((2, 8, 8, 3)),), {}, ValueError, "batch of 2"),
    (plot.feature_maps, (np.zeros((8, 8)),), {}, ValueError, "3-D or 4-D"),
    (plot.gradient_stats, ({"norms": {}},), {}, TypeError, "GradientStats"),
    (plot.gradient_stats, ({"step": [0], "norms": {}},), {}, ValueError, "no layers"),
    (plot.gradient_stats, ({"step": [0, 1], "norms": {"d": [1.0]}},), {}, ValueError,
     "2 steps but 1"),
    (plot.gradient_stats, ({"step": [0], "norms": {"d": [-1.0]}},), {}, ValueError, "negative"),
    (plot.weight_histograms, ([np.zeros(3)],), {}, TypeError, "dict"),
    (plot.weight_histograms, ({},), {}, ValueError, "empty"),
    (plot.weight_histograms, ({"w": []},), {}, ValueError, "empty"),
    (plot.clusters, (np.zeros((4, 3)), np.zeros(4)), {}, ValueError, r"\(N, 2\)"),
    (plot.clusters, (np.zeros((4, 2)), np.zeros(3)), {}, ValueError, "4 points but 3"),
    (plot.clusters, (np.zeros((4, 2)), np.full(4, 0.5)), {}, ValueError, "whole numbers"),
    (plot.clusters, (np.zeros((4, 2)), np.zeros(4)), {"centers": np.zeros(2)}, ValueError, "2-D"),
    (plot.series, ([np.zeros(3)],), {}, TypeError, "non-empty dict"),
    (plot.series, ({"a": np.zeros((3, 2))},), {}, ValueError, r"curves\['a'\] must be 1-D"),
]


@pytest.mark.parametrize("function, args, kwargs, error, message", BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message(function, args, kwargs, error, message,
                                                   tmp_path):
    path = tmp_path / "never.png"
    with pytest.raises(error, match=message):
        function(*args, path, **kwargs)
    assert not path.exists()


@pytest.mark.parametrize("case", ["history", "clusters"])
def test_path_must_be_a_path(case):
    function, args, kwargs = CALLS[case]
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        function(*args, 42, **kwargs)


@pytest.fixture
def without_matplotlib(monkeypatch):
    """As if matplotlib were not installed: every ``import matplotlib...`` fails."""
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.parametrize("case", CALLS)
def test_without_matplotlib_each_function_says_how_to_install_it(case, tmp_path,
                                                                 without_matplotlib):
    function, args, kwargs = CALLS[case]
    assert plot.available() is False
    with pytest.raises(ImportError, match=r"fastnn.plot needs matplotlib: pip install "
                                          r"fastnn\[plot\]"):
        function(*args, tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_available_is_true_with_matplotlib(matplotlib):
    assert plot.available() is True


def test_importing_fastnn_plot_needs_no_matplotlib():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import fastnn.plot\n"
            "print(fastnn.plot.available())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert MISSING_MATPLOTLIB == "fastnn.plot needs matplotlib: pip install fastnn[plot]"
