import pytest

import helpers
from helpers import config
from helpers.errors import BookError, ConfigError


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv(config.PROFILE_VAR, raising=False)
    assert config.profile() == "full"
    assert config.pick(full=200, quick=8) == 200


def test_quick_profile_picks_quick_values(monkeypatch):
    monkeypatch.setenv(config.PROFILE_VAR, "Quick ")
    assert config.profile() == "quick"
    assert config.pick(full=200, quick=8) == 8


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv(config.PROFILE_VAR, "fast")
    with pytest.raises(ConfigError, match="'fast' is not a profile.*full, quick"):
        config.profile()


def test_data_dir_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="is not a directory.*prepare-data"):
        config.data_dir()
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()
    monkeypatch.delenv(config.DATA_VAR)
    assert config.data_dir() is None


@pytest.mark.parametrize(("profile", "value", "allowed"), [
    ("quick", "", True), ("full", "", False), ("full", "1", True), ("quick", "no", False)])
def test_standin_weights_policy(monkeypatch, profile, value, allowed):
    monkeypatch.setenv(config.PROFILE_VAR, profile)
    monkeypatch.setenv(config.STANDIN_VAR, value)
    assert config.standin_weights_allowed() is allowed


def test_standin_weights_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv(config.STANDIN_VAR, "maybe")
    with pytest.raises(ConfigError, match="Set it to 1 or 0"):
        config.standin_weights_allowed()


def test_book_errors_render_as_one_line_in_ipython():
    err = helpers.DataError("the file is missing; copy it")
    assert isinstance(err, BookError)
    assert err._render_traceback_() == ["DataError: the file is missing; copy it"]


def test_seed_everything_repeats_random_numbers():
    import numpy as np

    config.seed_everything(3)
    first = np.random.rand(3)
    config.seed_everything(3)
    assert np.array_equal(first, np.random.rand(3))
