"""Array files a user hands to hwgen (weights, calibration images, a generated project's quant.npz):
each bad file is one ModelError naming the file, what is wrong and what is read."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.errors import ModelError
from hwgen.nn.quantize import load_calibration
from hwgen.nn.models import build_model, load_params, random_params, save_params
from hwgen.nn.quantize import load_quant

NET = build_model("skynet-tiny")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("not numpy\n")
    (tmp_path / "dir.npz").mkdir()
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "none.npz")
    np.savez(tmp_path / "strings.npz", x=np.array([["a"] * 3] * 2))
    return tmp_path


@pytest.mark.parametrize("load", [lambda p: load_params(NET, p), lambda p: load_calibration(str(p), NET),
                                  load_quant], ids=["weights", "calibration", "quant"])
@pytest.mark.parametrize("name, message", [
    ("empty.npz", r"is empty, not a NumPy \.npy/\.npz file"),
    ("text.npz", r"is not a NumPy \.npy/\.npz file"),
    ("dir.npz", r"is a directory, not a NumPy \.npy/\.npz file"),
    ("objects.npz", r"holds Python objects \(pickled\); only plain numeric arrays are read"),
])
def test_bad_array_files_are_one_clear_error(files, load, name, message):
    with pytest.raises(ModelError, match=rf"file .*{name} {message}$") as e:
        load(files / name)
    assert "\n" not in str(e.value)


def test_calibration_must_hold_numeric_images(files):
    with pytest.raises(ModelError, match=r"calibration file .*none\.npz holds no arrays"):
        load_calibration(str(files / "none.npz"), NET)
    with pytest.raises(ModelError, match=r"calibration file .*strings\.npz: images must be numbers, not <U1"):
        load_calibration(str(files / "strings.npz"), NET)


def test_weights_must_be_numbers(files, tmp_path):
    params = random_params(NET, 0)
    name = next(iter(params))
    params[name]["bias"] = np.array(["x"] * len(params[name]["bias"]))
    save_params(params, tmp_path / "w.npz")
    with pytest.raises(ModelError, match=rf"weights file .*w\.npz: {name}\.bias must be numbers, not <U1"):
        load_params(NET, tmp_path / "w.npz")


def test_quant_file_missing_arrays(files):
    with pytest.raises(ModelError, match=r"quantized network file .*none\.npz has no array 'network_json'; "
                                         r"write it with hwgen hls generate"):
        load_quant(files / "none.npz")


@pytest.mark.parametrize("flag", ["--weights", "--calibration"])
def test_cli_bad_array_file_is_one_line_and_writes_nothing(files, flag, capsys):
    out = files / "out"
    assert main(["hls", "generate", "--preset", "skynet-tiny", flag, str(files / "dir.npz"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hwgen: error: ") and "is a directory" in err[0]
    assert not out.exists()


def test_non_finite_values_are_refused(tmp_path):
    params = random_params(NET, 0)
    name = next(iter(params))
    params[name]["weight"][0, 0, 0, 0] = np.nan
    params[name]["weight"][0, 0, 0, 1] = np.inf
    save_params(params, tmp_path / "w.npz")
    with pytest.raises(ModelError, match=rf"^weights file .*w\.npz: {name}\.weight holds 2 values that "
                                         rf"are NaN or infinite; only finite numbers are read$"):
        load_params(NET, tmp_path / "w.npz")
    imgs = np.zeros((2, *NET.input_shape))
    imgs[1, 3, 4, 0] = -np.inf
    np.save(tmp_path / "c.npy", imgs)
    with pytest.raises(ModelError, match=r"^calibration file .*c\.npy: images holds 1 value that is NaN or "
                                         r"infinite; only finite numbers are read$"):
        load_calibration(str(tmp_path / "c.npy"), NET)
