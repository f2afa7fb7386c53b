"""The workbench's watch pages: the watches, all or a case's, each with its schedule and
last run; and a watch's timeline, the URL's captures newest first with the change found
between two of them, its diff, and the command that reports it for a court."""

from __future__ import annotations

import html
import json
import re

from conftest import Custody
from custody.testing.changing import ChangingSite
from custody.testing.serving import serving
from test_watch import changes, next_interval, run_once


def test_the_watches_and_a_watch_s_timeline(custody: Custody) -> None:
    custody.ok("case", "create", "Convoy")
    with ChangingSite() as site:
        url = site.url + "/statement"
        custody.ok("watch", "add", url, "--every", "1s", "--case", "Convoy")
        custody.ok("watch", "add", site.url + "/w/1", "--every", "6h")
        run_once(custody)
        site.phase = "edited"
        next_interval()
        run_once(custody)
    (change,) = changes(custody)
    with serving(custody.root, "--no-replay", env={"CUSTODY_KEY": str(custody.key)}) as served:
        client = served.signed_in()
        listed = client.get("/watches")
        assert listed.status_code == 200
        page = html.unescape(listed.text)
        assert url in page and site.url + "/w/1" in page
        assert page.count('href="/watches/') == 2
        title = re.search(r"<title>(.*?)</title>", listed.text, re.S)
        assert title is not None and "<" not in html.unescape(title.group(1)) \
            and "form" not in title.group(1)
        assert ">Convoy</bdi></a></td>" in listed.text  # the case by its name
        case_id = re.search(r'href="/cases/([^"]+)"', listed.text)
        assert case_id is not None
        only = html.unescape(client.get(f"/watches?case={case_id.group(1)}").text)
        assert url in only and site.url + "/w/1" not in only
        watch_id = re.search(r'href="/watches/([^"]+)">[^<]*<bdi dir="ltr" class="url">'
                             + re.escape(html.escape(url)), listed.text)
        assert watch_id is not None, listed.text
        timeline = client.get(f"/watches/{watch_id.group(1)}")
        assert timeline.status_code == 200
        shown = html.unescape(timeline.text)
        assert "Changed: text" in shown
        assert change["before_capture"] in shown and change["after_capture"] in shown
        assert f"custody report --change {change['seq']}" in shown
        assert f"/captures/{change['after_capture']}/diff?other={change['before_capture']}" \
            in shown
        assert shown.index(change["after_capture"]) < shown.index(change["before_capture"])
        # each line's marker on its left, its words in a direction of their own
        assert '<pre class="diff" dir="ltr">' in timeline.text
        assert '<span class="add">+<bdi dir="auto">' in timeline.text
        diff = timeline.text.split('<pre class="diff" dir="ltr">', 1)[1].split("</pre>", 1)[0]
        assert diff.count("</span>\n") == diff.count("<span") >= 4  # a line each
        assert client.get("/watches/no-such-watch").status_code == 404


def test_watches_are_added_paused_and_removed_as_signed_events(custody: Custody) -> None:
    custody.ok("case", "create", "Convoy")
    with serving(custody.root, "--no-replay", env={"CUSTODY_KEY": str(custody.key)}) as served:
        client = served.signed_in()
        form = client.get("/watches").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        case = re.search(r'<option value="([^"]+)">Convoy</option>', form)
        assert case is not None
        added = client.post("/watches", data={
            "csrf": token.group(1), "urls": "https://example.org/statement\n",
            "every": "6h", "browser": "on", "case": case.group(1), "ignore": ".ticker",
            "threshold": "2.5%"})
        assert added.status_code == 303, added.text
        watch_id = added.headers["location"].rsplit("/", 1)[1]
        assert "a screenshot change from 2.5%" in client.get(f"/watches/{watch_id}").text
        refused = client.post("/watches", data={"csrf": token.group(1), "urls": "x",
                                                "every": "6 hours"})
        assert refused.status_code == 400
        assert client.post("/watches", data={"urls": "https://example.org/a",
                                              "every": "1h"}).status_code == 403  # no token
        paused = client.post(f"/watches/{watch_id}/change",
                             data={"csrf": token.group(1), "action": "pause",
                                   "reason": "the site is down for a week"})
        assert paused.status_code == 303
        assert "paused" in client.get(f"/watches/{watch_id}").text
        client.post(f"/watches/{watch_id}/change",
                    data={"csrf": token.group(1), "action": "remove"})
    listed = json.loads(custody.ok("watch", "list", "--json", "--all").stdout)
    events = [json.loads(line) for line in
              (custody.root / "manifests" / "ledger" / "log.jsonl").read_text().splitlines()]
    mine = [e for e in events if e["event"].startswith("watch-")]
    assert [e["event"] for e in mine] == ["watch-added", "watch-paused", "watch-removed"]
    assert all(e["details"].get("account") for e in mine)
    assert mine[0]["details"]["browser"] is True and mine[0]["details"]["ignore"] == [".ticker"]
    assert mine[0]["details"]["screenshot_permille"] == 25
    assert listed
