from __future__ import annotations

from pathlib import Path

import pytest

from centre.config import CentreConfigError, load_centre_config


def test_errors_name_the_file_and_key(tmp_path: Path) -> None:
    p = tmp_path / "centre.toml"
    p.write_text('[mqtt]\nurl = "http://x"\nbogus = 1\n[store]\nurl = "mysql://x"\n[tak]\nurl = "tcp://x"\n')
    with pytest.raises(CentreConfigError) as err:
        load_centre_config(p)
    assert f"{p}: mqtt.bogus: unknown key" in str(err.value)
    assert f"{p}: store.url: Value error, must start with sqlite:/// or postgresql://" in str(err.value)
    assert f"{p}: mqtt.url: Value error, broker URL must look like mqtt://HOST:PORT" in str(err.value)
    assert f"{p}: tak.url: Value error, must look like udp://HOST:PORT or tcp://HOST:PORT" in str(err.value)


def test_defaults_load(tmp_path: Path) -> None:
    p = tmp_path / "centre.toml"
    p.write_text("")
    assert load_centre_config(p).mqtt.group == "centre"


@pytest.mark.parametrize("name", ["ops/alice", "ops#", "a+b"])
def test_a_user_name_that_is_not_one_topic_level_is_refused(tmp_path: Path, name: str) -> None:
    p = tmp_path / "centre.toml"
    p.write_text(f'[mqtt]\nusername = "{name}"\n')
    with pytest.raises(CentreConfigError) as err:
        load_centre_config(p)
    assert f"{p}: mqtt.username: Value error, '{name}': no '/', '+' or '#'" in str(err.value)
