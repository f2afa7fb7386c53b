"""A capture's settings have one set of rules (custody.capture.validation): `custody
archive` checks its options with them, and a queue worker checks each job with them.
Here the rules themselves, and the command line holding to them before anything is
fetched."""

from __future__ import annotations

import math
from typing import Any

import pytest

from conftest import Custody
from custody.capture.settings import Settings
from custody.capture.validation import LIMITS, NAMES, check_settings
from custody.core.errors import UsageError
from custody.testing.site import SiteServer
from test_cli import one_line_error


def base() -> dict[str, Any]:
    return Settings().to_json()


def test_what_custody_writes_passes_whole() -> None:
    data = {**base(), "include": ["/reports/"], "tsa": ["https://tsa.example/tsr"],
            "max_pages": 10, "time_limit": 5, "cookies": "/home/a/cookies.txt"}
    settings = check_settings(data)
    assert settings.to_json() == {**data, "time_limit": 5.0}
    assert isinstance(settings.time_limit, float)  # a whole number given for seconds
    assert sorted(NAMES) == sorted(base())  # every field has a rule


@pytest.mark.parametrize("change, says", [
    ({"concurrency": 0}, "setting 'concurrency' is from 1 to 64, not 0"),
    ({"depth": 101}, "setting 'depth' is from 0 to 100, not 101"),
    ({"delay": 3600.5}, "setting 'delay' is from 0 to 3600"),
    ({"timeout": 0}, "setting 'timeout' is from 0.1 to 3600"),
    ({"max_pages": 0}, "setting 'max_pages' is at least 1"),
    ({"depth": 1.5}, "setting 'depth' is a whole number, not the number 1.5"),
    ({"depth": True}, "setting 'depth' is a whole number, not true"),
    ({"timeout": math.nan}, "setting 'timeout' is a finite number"),
    ({"timeout": math.inf}, "setting 'timeout' is a finite number"),
    ({"browser": 1}, "setting 'browser' is true or false, not the number 1"),
    ({"scope": "galaxy"}, "setting 'scope' is one of page, prefix, host, domain, any"),
    ({"exclude": "(a"}, "setting 'exclude' is a list of regular expressions"),
    ({"exclude": ["(a"]}, "exclude: '(a' is not a regular expression"),
    ({"include": ["a" * 2001]}, "at most 2000"),
    ({"include": ["x"] * 101}, "holds 101 patterns; at most 100"),
    ({"user_agent": "a\r\nSet-Cookie: x=1"}, "without control characters"),
    ({"user_agent": "  "}, "setting 'user_agent' is blank"),
    ({"user_agent": 7}, "setting 'user_agent' is text"),
    ({"tsa": ["file:///etc/passwd"]}, "setting 'tsa': file:///etc/passwd: unsupported scheme"),
    ({"tsa": "https://tsa.example/"}, "setting 'tsa' is a list of URLs"),
    ({"cookies": 7}, "setting 'cookies' is the path of a file, not the number 7"),
    ({"ca_bundle": ""}, "setting 'ca_bundle' is the path of a file"),
    ({"warc_size": None}, "setting 'warc_size' is a whole number, not null"),
    ({"shell": "rm -rf /"}, "unknown setting 'shell'"),
])
def test_each_rule_names_what_is_wrong(change: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_settings({**base(), **change})
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_fields_and_other_shapes_are_refused() -> None:
    for name in NAMES:
        data = base()
        del data[name]
        with pytest.raises(UsageError, match=f"setting '{name}' is missing"):
            check_settings(data)
    for shape in (None, [], "depth=1", 3):
        with pytest.raises(UsageError, match="settings are an object"):
            check_settings(shape)


def test_the_command_line_holds_to_the_same_rules(custody: Custody, site: SiteServer) -> None:
    before = len(site.requests)
    url = site.url + "/en.html"
    for args, says in [(("--user-agent", "evil\nX-Injected: 1"),
                        "--user-agent is one line of at most 1000 characters"),
                       (("--tsa", "ftp://tsa.example/"), "--tsa: ftp://tsa.example/")]:
        result = custody("archive", *args, url)
        assert result.exit_code == 2, (args, result.output)
        assert says in one_line_error(result.output), result.output
    for option in ("delay", "timeout", "page_timeout"):
        high = LIMITS[option][1]
        assert high is not None
        result = custody("archive", f"--{option.replace('_', '-')}", str(high * 2), url)
        assert result.exit_code == 2 and "Invalid value" in result.output
    result = custody("archive", "--exclude", "(" * 3000, url)  # click's own option check
    assert result.exit_code == 2 and "a regular expression of 3000 characters" in result.output
    assert len(site.requests) == before  # refused before anything was fetched
