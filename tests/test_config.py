"""Settings travel as environment variables (a reconstructable job, a benchmark's CLI run)."""

from __future__ import annotations

from conftest import make_settings

from margin_wh.config import Settings


def test_settings_made_from_their_own_environment_are_the_same(tmp_path):
    settings = make_settings(tmp_path, MARGIN_WH_DEMO_SEED="7", MARGIN_WH_SOURCE="demo")
    assert Settings.from_env(settings.as_env()) == settings
    assert Settings.from_env({**settings.as_env(), "MARGIN_WH_DEMO_SEED": "8"}) != settings
