"""`python -m helpers check`, the first step of `make book`: it says what a run will use and stops a run that
cannot work with one clear message (exit 1), before any chapter executes."""

import pytest

from helpers import config, data, pretrained
from helpers.__main__ import main
from tests.test_prepare import make_source


@pytest.fixture
def offline_dir(tmp_path, monkeypatch):
    """A complete offline data directory without VGG19's weights, named by SHAP_BOOK_DATA."""
    folder = tmp_path / "data"
    index = make_source(folder)
    index.write_text('{"0": ["n01440764", "tench"]}')
    monkeypatch.setattr(data, "CLASS_INDEX_MD5", data.checksum(index, "md5"))
    cache = tmp_path / "keras-cache" / pretrained.VGG19_WEIGHTS_FILE
    monkeypatch.setattr(pretrained, "_keras_weights_path", lambda: cache)
    monkeypatch.setenv(config.DATA_VAR, str(folder))
    return folder


def test_check_reports_the_run_and_the_standin_weights(offline_dir, monkeypatch, capsys):
    monkeypatch.setenv(config.PROFILE_VAR, "full")
    monkeypatch.setenv(config.STANDIN_VAR, "1")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "profile:      full" in out and str(offline_dir) in out
    assert "imagenet50, CIFAR-10 and the ImageNet class index are there and readable" in out
    assert "ImageNet weights ABSENT" in out and "RANDOM stand-in weights" in out


def test_check_stops_a_full_build_without_weights_or_permission(offline_dir, monkeypatch, capsys):
    monkeypatch.setenv(config.PROFILE_VAR, "full")
    monkeypatch.delenv(config.STANDIN_VAR, raising=False)
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: VGG19's ImageNet weights") and f"{config.STANDIN_VAR}=1" in err


def test_check_names_a_missing_data_file(offline_dir, monkeypatch, capsys):
    (offline_dir / data.CIFAR10_FULL_FILE).unlink()
    monkeypatch.setenv(config.STANDIN_VAR, "1")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and data.CIFAR10_FILE in err and "Traceback" not in err


def test_check_refuses_a_data_directory_that_does_not_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path / "nowhere"))
    assert main(["check"]) == 1
    assert "is not a directory" in capsys.readouterr().err

