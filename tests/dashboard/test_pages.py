"""The dashboard in a real browser: sign in, live lists, toggles, Run now, runs, edits, events, tenancy, escaping."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.api.sse import events
from tests.dashboard.conftest import App, screenshot, sign_in
from tests.dashboard.server import Dashboard, Proxy, worker

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

GATED = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "Gated greeting",
    "start_node": "start",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "start", "trigger": "workflow.invoked", "on_success": "settle"},
        {"kind": "WorkflowDelay", "id": "settle", "duration": "1ms", "on_success": "gate"},  # checkpointed
        {"kind": "DashboardGate", "id": "gate", "on_success": "check"},
        {"kind": "WorkflowCondition", "id": "check", "condition": "true", "on_true": "greet", "on_false": "other"},
        {"kind": "WorkflowScript", "id": "greet", "source": '{"text": "hello"}'},
        {"kind": "WorkflowScript", "id": "other", "source": '{"text": "never"}'},
    ],
}
JOINED = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "On join",
    "start_node": "joined",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "joined", "trigger": "thread.member_joined", "on_success": "say"},
        {"kind": "WorkflowScript", "id": "say", "source": '{"text": "hi"}'},
    ],
}
APPROVAL = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "Reviewed post",
    "start_node": "start",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "start", "trigger": "workflow.invoked", "on_success": "review"},
        {
            "kind": "WorkflowApproval",
            "id": "review",
            "message": "Publish {{ $.title }}?",
            "routes": {"reject": None},
            "on_success": "publish",
        },
        {"kind": "WorkflowScript", "id": "publish", "source": '{"published": true}'},
    ],
}
SCHEDULED = {**GATED, "nodes": [{**GATED["nodes"][0], "trigger": "workflow.scheduled"}, *GATED["nodes"][1:]]}
HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def _config(app: App, graph: dict[str, Any]) -> str:
    response = app.http.post(app.url("/configs"), json=graph)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _automation(app: App, **fields: Any) -> dict[str, Any]:
    response = app.http.post(app.url("/automations"), json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _stored(server: Dashboard, app: App, automation_id: str) -> Any:
    return server.call(server.engine.store.get_automation, app.id, automation_id)


def _no_injection(page: Any) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("main script").count() == 0


def test_sign_in_refuses_a_wrong_key_and_then_lists_automations_live(page: Any, server: Dashboard, app: App) -> None:
    sign_in(page, server, app, key="gfk_" + "0" * 40, refused=True)
    expect(page.get_by_role("alert")).to_contain_text("refused")
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(page.get_by_label("App id")).to_have_value(app.id)  # offered again
    screenshot(page, "sign-in")
    sign_in(page, server, app)
    expect(page.locator("#count")).to_contain_text("No automations yet")
    config_id = _config(app, GATED)
    created = _automation(app, name="Greeter", type="invoked", config_id=config_id, enabled=True)
    row = page.locator(f"#automations tr[data-id='{created['id']}']")
    expect(row).to_contain_text("Greeter")  # arrived through the stream, no reload
    expect(row.get_by_role("switch", name="Enabled: Greeter")).to_be_checked()
    assert "graphflow.session" in page.evaluate("Object.keys(sessionStorage)")
    assert app.key not in page.url


def test_toggle_pauses_and_activates_and_shows_a_refusal(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    live = _automation(app, name="Toggled", type="invoked", config_id=config_id, enabled=True)
    loose = _automation(app, name="No config yet", type="invoked")
    weekly = _config(app, SCHEDULED)
    _automation(
        app, name="Weekly digest", type="scheduled", schedule="every monday at 9am", config_id=weekly, enabled=True
    )
    sign_in(page, server, app)
    switch = page.get_by_role("switch", name="Enabled: Toggled")
    switch.click()
    expect(switch).not_to_be_checked()
    expect(page.locator(f"tr[data-id='{live['id']}'] [data-status]").first).to_have_text("paused")
    assert _stored(server, app, live["id"]).status == "paused"
    switch.focus()
    page.keyboard.press("Space")  # keyboard-usable
    expect(switch).to_be_checked()
    expect(page.locator(f"tr[data-id='{live['id']}'] [data-status]").first).to_have_text("running")
    assert _stored(server, app, live["id"]).status == "running"
    expect(switch).to_be_focused()  # the keyboard keeps its place: a second Space pauses it again
    page.keyboard.press("Space")
    expect(page.locator(f"tr[data-id='{live['id']}'] [data-status]").first).to_have_text("paused")
    switch.focus()
    page.keyboard.press("Space")
    expect(page.locator(f"tr[data-id='{live['id']}'] [data-status]").first).to_have_text("running")
    page.locator("a.skip").focus()  # "Skip to content" moves the focus, not the page
    page.keyboard.press("Enter")
    expect(page.locator("#automations")).to_be_visible()

    refused = page.get_by_role("switch", name="Enabled: No config yet")
    refused.click()
    expect(page.locator(f"tr[data-id='{loose['id']}'] .row-error")).to_contain_text("activation needs a config_id")
    expect(refused).not_to_be_checked()
    assert _stored(server, app, loose["id"]).status == "draft"

    page.get_by_label("Search by name").fill("toggl")
    expect(page.locator("#automations tbody tr")).to_have_count(1)
    page.get_by_label("Search by name").fill("")
    page.get_by_label("Status").select_option("draft")
    expect(page.locator("#automations tbody tr")).to_have_count(1)
    expect(page.locator("#count")).to_have_text("1 of 3 automations")
    page.get_by_label("Type").select_option("scheduled")
    expect(page.locator("#automations tbody tr")).to_have_count(0)
    page.get_by_label("Status").select_option("running")
    expect(page.locator("#automations tbody tr")).to_contain_text("Mondays at 9:00 AM")
    page.get_by_label("Type").select_option("")
    page.get_by_label("Status").select_option("")
    screenshot(page, "automations")


def test_run_now_shows_pending_running_completed_live_then_the_journal_and_path(
    page: Any, server: Dashboard, app: App
) -> None:
    config_id = _config(app, GATED)
    automation = _automation(app, name="Gated", type="invoked", config_id=config_id, enabled=True)
    sign_in(page, server, app)
    page.get_by_role("link", name="Gated", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gated")
    expect(page.locator("img.graph")).to_have_attribute("alt", re.compile("Gated greeting, version 1"))
    page.locator("#details-title").wait_for()
    page.get_by_role("button", name="Run Gated now").click()
    status = page.locator("#runs tbody tr [data-status]").first
    expect(status).to_have_text("pending")  # no worker yet: it waits in the database
    with worker(server.database) as running:
        expect(status).to_have_text("running")  # claimed; held at the gate
        screenshot(page, "automation")
        page.locator("#runs tbody tr a").first.click()
        expect(page.locator("#run-status [data-status]")).to_have_text("running")
        run_id = page.url.rsplit("/", 1)[1]
        with app.http.stream("GET", app.url(f"/automations/runs/{run_id}/stream")) as stream:
            next(f for f in events(stream) if f.event == "run.node_completed")  # settle's checkpoint
        live = app.http.get(app.url(f"/automations/runs/{run_id}/svg")).text  # mid-run: the path so far
        assert 'class="gf-node gf-completed" data-node="settle"' in live
        assert 'class="gf-node" data-node="gate"' in live
        running.open()
        expect(page.locator("#run-status [data-status]")).to_have_text("completed")  # the run stream, no reload
    journal = page.locator("#journal")
    expect(journal).to_contain_text("completed gate")
    expect(journal).to_contain_text("completed greet")
    expect(page.locator("#run-result")).to_contain_text("hello")
    image = page.locator("#graph-title + figure img.graph")
    expect(image).to_have_attribute("alt", re.compile("path highlighted"))
    page.wait_for_function("document.querySelector('#graph-title + figure img.graph').naturalWidth > 0")
    svg = app.http.get(app.url(f"/automations/runs/{run_id}/svg")).text
    assert 'class="gf-node gf-completed" data-node="greet"' in svg
    assert 'class="gf-node gf-skipped" data-node="other"' in svg
    screenshot(page, "run")
    runs = app.http.get(app.url(f"/automations/{automation['id']}/runs")).json()["data"]
    assert [r["status"] for r in runs] == ["completed"]


def test_a_long_list_draws_more_rows_as_it_scrolls(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    for index in range(205):
        fields = {"name": f"Bulk {index:03d}", "type": "invoked", "config_id": config_id}
        server.call(server.engine.automations.create, app.id, fields)
    sign_in(page, server, app)
    rows = page.locator("#automations tbody tr[data-id]")
    expect(page.locator("#count")).to_have_text("205 automations")
    expect(rows).to_have_count(200)  # the first window
    expect(page.locator("#automations tr.more")).to_contain_text("Show 5 more")
    page.locator("#automations tr.more").scroll_into_view_if_needed()
    expect(rows).to_have_count(205)
    expect(page.locator("#automations tr.more")).to_have_count(0)
    page.get_by_label("Search by name").fill("Bulk 004")  # a search covers every automation, drawn or not
    expect(rows).to_have_count(1)
    expect(page.locator("#count")).to_have_text("1 of 205 automations")


def test_runs_page_newest_first_with_a_status_filter(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    automation = _automation(app, name="Busy", type="invoked", config_id=config_id, overlap="allow", enabled=True)
    for _ in range(23):  # no worker: they all wait, pending
        assert app.http.post(app.url(f"/automations/{automation['id']}/trigger"), json={}).status_code == 202
    listed = app.http.get(app.url(f"/automations/{automation['id']}/runs?limit=100")).json()["data"]
    run_ids = [run["id"] for run in listed]  # newest first (ids of one millisecond: in the API's order)
    sign_in(page, server, app)
    page.goto(f"{server.url}/#/automations/{automation['id']}")
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-id", run_ids[0])
    older, newer = page.get_by_role("button", name="Older"), page.get_by_role("button", name="Newer")
    expect(newer).to_be_disabled()
    older.click()
    expect(rows).to_have_count(3)
    expect(rows.last).to_have_attribute("data-id", run_ids[-1])
    expect(older).to_be_disabled()
    newer.click()
    expect(rows).to_have_count(20)
    page.get_by_label("Status", exact=True).select_option("completed")
    expect(rows).to_have_text(["No runs."])
    page.get_by_label("Status", exact=True).select_option("pending")
    expect(rows).to_have_count(20)


def test_a_failing_run_and_hostile_texts_are_shown_as_text(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    automation = _automation(app, name=HOSTILE, type="invoked", config_id=config_id, enabled=True)
    with worker(server.database, gate_open=True):
        triggered = app.http.post(
            app.url(f"/automations/{automation['id']}/trigger"), json={"payload": {"fail": HOSTILE}}
        )
        assert triggered.status_code == 202, triggered.text
        run_id = triggered.json()["run_id"]
        server.call(server.engine.wait_for_run, app.id, run_id, timeout=10)
    sign_in(page, server, app)
    expect(page.locator(f"tr[data-id='{automation['id']}'] td a").first).to_have_text(HOSTILE)
    page.goto(f"{server.url}/#/runs/{run_id}")
    expect(page.locator("#run-status [data-status]")).to_have_text("failed")
    expect(page.locator("#run-error")).to_contain_text(HOSTILE)
    expect(page.locator("#run-payload")).to_contain_text("window.__xss = 1")
    expect(page.locator("#journal")).to_contain_text(HOSTILE)
    screenshot(page, "run-failed")
    page.goto(f"{server.url}/#/automations/{automation['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE)
    expect(page.locator("dl.fields").first).to_contain_text("Last error")
    _no_injection(page)


def test_an_invalid_schedule_edit_shows_the_inline_error_and_changes_nothing(
    page: Any, server: Dashboard, app: App
) -> None:
    config_id = _config(
        app, {**GATED, "nodes": [{**GATED["nodes"][0], "trigger": "workflow.scheduled"}, *GATED["nodes"][1:]]}
    )
    automation = _automation(app, name="Weekly", type="scheduled", schedule="every monday at 9am", config_id=config_id)
    sign_in(page, server, app)
    page.goto(f"{server.url}/#/automations/{automation['id']}")
    page.get_by_label("Name", exact=True).fill("Renamed")
    changed = app.http.patch(app.url(f"/automations/{automation['id']}"), json={"description": "changed elsewhere"})
    assert changed.status_code == 200, changed.text
    expect(page.locator("dl.fields").first).to_contain_text("changed elsewhere")  # a live update…
    expect(page.get_by_label("Name", exact=True)).to_have_value("Renamed")  # …leaves what is being typed alone
    page.get_by_label("Schedule", exact=True).fill("every banana")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-schedule")).to_contain_text("could not understand 'banana'")
    expect(page.get_by_label("Schedule", exact=True)).to_have_attribute("aria-invalid", "true")
    stored = _stored(server, app, automation["id"])
    assert (stored.name, stored.schedule) == ("Weekly", automation["schedule"])

    page.get_by_label("Schedule", exact=True).fill("every 30m")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Renamed")
    assert _stored(server, app, automation["id"]).schedule_display == "Every 30 minutes"


def test_another_apps_key_sees_none_of_it(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    mine = _automation(app, name="Private thing", type="invoked", config_id=config_id)
    other_id = f"{app.id}x"
    other = App(other_id, server.key(other_id), app.http)
    sign_in(page, server, other)
    expect(page.locator("#count")).to_contain_text("No automations yet")
    page.goto(f"{server.url}/#/automations/{mine['id']}")
    expect(page.get_by_role("alert")).to_contain_text("not found")
    expect(page.locator("main")).not_to_contain_text("Private thing")
    # Their key with this app's id: refused at sign-in.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, App(app.id, other.key, app.http), refused=True)
    expect(page.locator("#sign-in-error")).to_contain_text("does not belong")


def test_a_revoked_key_sends_the_viewer_back_to_sign_in(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    _automation(app, name="Soon gone", type="invoked", config_id=config_id, enabled=True)
    key_id = server.call(server.engine.keys.list, app.id)[0].id
    sign_in(page, server, app)
    expect(page.get_by_role("switch", name="Enabled: Soon gone")).to_be_visible()
    server.call(server.engine.keys.revoke, app.id, key_id)
    page.get_by_role("switch", name="Enabled: Soon gone").click()
    expect(page.get_by_role("alert")).to_contain_text("Your key was refused")
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('graphflow.session')") is None


def test_events_page_explains_before_publishing(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, JOINED)
    _automation(app, name="Welcome", trigger="thread.member_joined", config_id=config_id, enabled=True)
    sign_in(page, server, app)
    page.get_by_role("link", name="Events").click()
    expect(page.locator("#catalogue")).to_contain_text("thread.member_joined")
    page.get_by_label("Event", exact=True).select_option("thread.member_joined")
    page.get_by_label("Payload (JSON)").fill('{"thread_id": "thr_1", "user_id": "usr_1"}')
    publish = page.get_by_role("button", name="Publish")
    expect(publish).to_be_disabled()
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#would-start")).to_contain_text("Welcome")
    screenshot(page, "events")
    publish.click()
    expect(page.locator("#publish-result")).to_contain_text("1 run(s) started")
    page.get_by_label("Payload (JSON)").fill("{not json")
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#publish-result")).to_contain_text("not valid JSON")


def test_steering_requests_are_answered_from_the_steering_and_run_pages(page: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, APPROVAL)
    automation = _automation(app, name="Posts", type="invoked", config_id=config_id, enabled=True)
    with worker(server.database, gate_open=True):
        sign_in(page, server, app)
        page.get_by_role("link", name="Steering").click()
        expect(page.locator("#steering")).to_contain_text("No pending steering requests")
        run_id = app.http.post(
            app.url(f"/automations/{automation['id']}/trigger"), json={"payload": {"title": HOSTILE}}
        ).json()["run_id"]
        card = page.locator("#steering article.steering")
        expect(card.locator(".message")).to_have_text(f"Publish {HOSTILE}?")  # live, and as text
        screenshot(page, "steering")
        card.get_by_role("link", name=run_id).click()
        expect(page.locator("#run-steering")).to_contain_text("Waiting for a decision")
        page.get_by_label("Note (optional)").fill("looks fine")
        page.get_by_role("button", name=re.compile("^approve: ")).click()
        expect(page.locator("#run-status [data-status]")).to_have_text("completed")
        expect(page.locator("#run-steering")).to_be_hidden()
        expect(page.locator("#journal")).to_contain_text("completed publish")
    answered = app.http.get(app.url("/steering_requests?status=answered")).json()["data"]
    assert [(r["run_id"], r["choice"], r["note"]) for r in answered] == [(run_id, "approve", "looks fine")]
    page.get_by_role("link", name="Steering").click()
    expect(page.locator("#steering")).to_contain_text("No pending steering requests")
    page.get_by_label("Status").select_option("answered")
    expect(page.locator("#steering article.steering")).to_contain_text("approve")
    _no_injection(page)


def test_the_page_works_at_390_pixels(browser: Any, server: Dashboard, app: App) -> None:
    config_id = _config(app, GATED)
    automation = _automation(
        app, name="A rather long automation name that must wrap", type="invoked", config_id=config_id, enabled=True
    )
    with worker(server.database, gate_open=True):
        run_id = app.http.post(app.url(f"/automations/{automation['id']}/trigger"), json={}).json()["run_id"]
        server.call(server.engine.wait_for_run, app.id, run_id, timeout=10)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, server, app)
        switch = page.get_by_role("switch", name=re.compile("Enabled: A rather long"))
        expect(switch).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "narrow")
        for where, ready in ((f"#/automations/{automation['id']}", "automation"), (f"#/runs/{run_id}", "run")):
            page.goto(f"{server.url}/{where}")
            page.locator(f"body[data-ready='{ready}']").wait_for()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, where
        page.get_by_role("link", name="Steering").click()
        expect(page.locator("#steering")).to_contain_text(re.compile("steering requests", re.IGNORECASE))
    finally:
        context.close()


def test_a_dropped_stream_resumes_with_last_event_id_and_misses_nothing(
    browser: Any, server: Dashboard, app: App
) -> None:
    config_id = _config(app, GATED)
    host, port = server.url.removeprefix("http://").split(":")
    proxy = Proxy((host, int(port)))
    context = browser.new_context()
    try:
        page = context.new_page()
        streams: list[dict[str, str]] = []
        page.on("request", lambda request: streams.append(request.headers) if "/stream" in request.url else None)
        sign_in(page, Dashboard(proxy.url, server.database, server.engine, server.portal), app)
        expect(page.locator("#count")).to_contain_text("No automations yet")
        proxy.drop()  # before any frame: no id to resume from, so the page draws itself again
        _automation(app, name="In the gap", type="invoked", config_id=config_id)
        expect(page.locator("#automations")).to_contain_text("In the gap")
        _automation(app, name="Before the drop", type="invoked", config_id=config_id)
        expect(page.locator("#automations")).to_contain_text("Before the drop")
        proxy.drop()  # the page's stream (and any idle connection) is cut
        _automation(app, name="During the drop", type="invoked", config_id=config_id)
        expect(page.locator("#automations")).to_contain_text("During the drop")
        assert "last-event-id" not in streams[0]
        assert any("last-event-id" in headers for headers in streams[1:])
        assert "Bearer" in streams[-1]["authorization"]
    finally:
        context.close()
        proxy.close()
