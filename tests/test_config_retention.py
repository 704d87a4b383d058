"""`[retention]` settings: defaults, the rendered file, environment overrides, bad values."""

from pathlib import Path

import pytest

from postoffice import config as cfg
from postoffice.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "postoffice.toml").write_text(text)
    return tmp_path


def test_defaults_and_the_rendered_file(tmp_path: Path) -> None:
    text = cfg.render("mx.example.test", cfg.DEV_LISTENERS)
    assert "[retention]\n" in text and "interval = 3600.0\n" in text
    config = cfg.load(write(tmp_path, text), environ={})
    assert config.retention == cfg.RetentionSettings(interval=3600.0, batch=5000)


def test_file_and_environment(tmp_path: Path) -> None:
    write(tmp_path, "[retention]\ninterval = 600\nbatch = 100\n")
    assert cfg.load(tmp_path, environ={}).retention == cfg.RetentionSettings(600.0, 100)
    env = {"POSTOFFICE_RETENTION__INTERVAL": "0"}
    assert cfg.load(tmp_path, environ=env).retention.interval == 0.0


@pytest.mark.parametrize("text", ["interval = -1", "batch = 0"])
def test_bad_values_name_the_section(tmp_path: Path, text: str) -> None:
    write(tmp_path, f"[retention]\n{text}\n")
    with pytest.raises(ConfigError, match=r"\[retention\]"):
        cfg.load(tmp_path, environ={})
