"""Without h5py, Keras's file names give an ImportError that says how to install
it, and nothing is written: never a file of another format under that name.

(Runs whether or not h5py is installed: it is hidden from the import.)
"""
import sys
import zipfile

import pytest

from fastnn.models import load_model
from layer_stacks import fastnn_model


@pytest.fixture
def without_h5py(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)      # import h5py now fails


@pytest.mark.parametrize("name", ["m.h5", "m.HDF5", "m.keras", "w.weights.h5"])
def test_saving_is_an_import_error_and_writes_nothing(tmp_path, without_h5py, name):
    model = fastnn_model("mlp")
    saves = [model.save] + ([] if name.endswith(".keras") else [model.save_weights])
    for save in saves:
        with pytest.raises(ImportError, match=r"needs the h5py package \(Keras keeps its arrays "
                                              r"in HDF5\): pip install fastnn\[keras\]"):
            save(tmp_path / name)
        assert not list(tmp_path.iterdir())


def test_loading_is_an_import_error(tmp_path, without_h5py):
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))   # HDF5's signature
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    model = fastnn_model("mlp")
    for name in ("m.h5", "m.keras"):
        for load in (load_model, model.load_weights):
            with pytest.raises(ImportError, match=r"pip install fastnn\[keras\]"):
                load(tmp_path / name)


def test_fastnn_files_need_no_h5py(tmp_path, without_h5py):
    model = fastnn_model("mlp")
    model.save(tmp_path / "m.fastnn")
    model.load_weights(tmp_path / "m.fastnn")
    assert load_model(tmp_path / "m.fastnn").get_config() == model.get_config()
