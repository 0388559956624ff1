"""A class on one dashboard: what thirty learners see when they all press Train in the same second.

A lesson's most demanding minute is its first exercise: the teacher says "press Train" and the whole
class does. The server (one `streamlit run`, two cores) then redraws thirty pages, starts thirty runs
that take turns (`dashboard.jobs.TrainingLine`: on two cores one trains, the others wait in line)
and stores them. This benchmark plays that minute, `trials` times with fresh learners, and reports:

- **Train → started**: until the page shows that *this learner's* run left the line (its progress
  bar, or already its end); in a class of N, one run at a time, the last waits for N - 1 runs.
- **Train → Finished**: until the page shows the success box "Finished. ...".
- **Blank pages**: pages whose main block lost the Train button or the "3 · Train" heading for good
  (checked once the server has nothing left to do), per trial; every console error and uncaught page
  error verbatim (today's dashboard sometimes blanks a page under load: "Bad delta path index"),
  when it came, and each page's final status line.
- **The run store** after the class: N runs, each "finished", one per learner (a run's config names
  its learner), none lost, none twice; and the most that trained at once (the line's slots at most).
- **The server's peak memory**: VmHWM in /proc/<pid>/status, since it started (later trials include earlier).

How it presses. Playwright's sync API, as the kit's other browser code: one thread, one Chromium, one
browser context per learner (its own cookies, its own learner token). Its calls go one at a time,
each tens to hundreds of milliseconds on a busy two-core machine: thirty clicks in a row would spread
over seconds. So every page is told the same instant, a few seconds ahead, and its own timer presses
Train then (a DOM click, handled as a mouse click is); the presses land within milliseconds whatever
the driver's speed, and the report says how far apart they were. The async API would need a second
`open_lab`; a sync API per thread means a Chromium per learner, too much for two cores. Each page also
notes itself 0.1 s after its page changes (and every 2 s besides), so the times do not wait for
Python's polling, and reading the pages adds little to the load on the cores the class shares.

What the times include. Chromium runs on the same cores as the server: thirty pages drawing charts
slow the training, a busy CPU slows the pages. So the report also gives each run's own training
seconds (`results["elapsed"]` in the store) and, from the store's timestamps, when the server started
and ended it: the server's share, apart from what the browser took to show it. Measure on an
otherwise idle machine; the server runs without a file watcher, so edits meanwhile do not reload it.
Bounded: everything on 127.0.0.1; a trial stops after `timeout_s` (15 minutes) and reports what it saw.

    python -m tl_lessons bench --only classroom                    # 30 learners, the lab's first settings
    python -m tl_lessons.bench_classroom --learners 3 --tiny       # a quick look, tiny runs
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from tl_lessons.bench_browser import CHROMIUM_ARGS, ROOT, SERVERS, chromium_path, dashboard, open_lab
from tl_lessons.runs import RunStore, RunStoreError

LEARNERS = 30
TRIAL_TIMEOUT_S = 15 * 60
POLL_S = 2.0  # how often Python reads the pages' own records and the run store
IDLE_S = 60  # no run training and the run store unchanged this long: the class is over
BLANK_GRACE_S = 30  # after the class, how long a page without its Train button may take to get it back
LEARNER_COOKIE = "tl_lessons_learner"  # app_pages/common.py

# Installed in each page once the lab is drawn: window.__tl records what the learner sees, with the
# browser's clock (Date.now(), the same clock as Python's time.time() on this machine).
RECORDER = r"""() => {
  const s = window.__tl = {scheduled: null, presses: [], waiting: null, started: null, firstStep: null,
                           ended: null, endText: null, status: "", showing: "", blankSince: null, blanks: 0,
                           longestBlankMs: 0, errors: []};
  // Errors with the time they came (Playwright's events give the full texts, not when).
  const note = text => { if (s.errors.length < 20) s.errors.push([Date.now(), String(text).slice(0, 200)]); };
  const consoleError = console.error;
  console.error = (...args) => { note(args.map(String).join(" ")); consoleError.apply(console, args); };
  window.addEventListener("error", event => note(event.message));
  const main = () => document.querySelector('[data-testid=stMainBlockContainer]');
  const train = () => [...document.querySelectorAll('[data-testid=stMainBlockContainer] button')]
    .find(b => /(^|\n)\s*Train\s*$/.test(b.innerText));
  const END = /^(Finished\.|Stopped|Left the line|Diverged|Failed).*$/m;
  const press = () => {
    const b = train();
    if (b && !b.disabled) { s.presses.push(Date.now()); b.click(); }
    else setTimeout(press, 50);  // mid-redraw: press as soon as the button is back
  };
  s.pressAt = at => { s.scheduled = at; setTimeout(press, Math.max(0, at - Date.now())); };
  // A look reads the page's text as drawn (innerText lays the page out, work a class's own pages would not
  // do): so a page looks 100 ms after it changed, and every 2 s besides, to time a blank spell that nothing
  // redraws, instead of five times a second.
  let due = null;
  const soon = () => { if (due === null) due = setTimeout(() => { due = null; look(); }, 100); };
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true, characterData: true});
  setInterval(soon, 2000);
  const look = () => {
    const now = Date.now(), el = main(), text = el ? el.innerText : "", b = train();
    if (b && /(^|\n)3 · Train\s*(\n|$)/.test(text)) {  // drawn: a blank spell, if there was one, is over
      const lasted = s.blankSince === null ? 0 : now - s.blankSince;
      s.blanks += lasted >= 2000; s.longestBlankMs = Math.max(s.longestBlankMs, lasted); s.blankSince = null;
    } else if (s.blankSince === null) s.blankSince = now;
    if (!s.presses.length) return;
    const end = END.exec(text), bar = el && el.querySelector('[data-testid=stProgress]');
    const waiting = /^.*Waiting in line.*$/m.exec(text);
    const error = el && el.querySelector('[data-testid=stAlertContentError]');
    s.showing = end ? "end" : bar ? "progress" : waiting ? "waiting" : "";
    s.status = end ? end[0] : bar ? "running: " + bar.innerText.trim() : waiting ? waiting[0]
             : error ? error.innerText.trim() : b ? "" : "(no Train button)";
    if (s.waiting === null && waiting) s.waiting = now;
    if (s.started === null && (end || bar)) s.started = now;
    if (s.firstStep === null && (end || /step [\d,]+ of [\d,]+/.test(text))) s.firstStep = now;
    if (s.ended === null && end) { s.ended = now; s.endText = end[0]; }
    // A press the page lost (15 s on, nothing shown, Train enabled, the script idle): press again, as a learner would.
    if (s.started === null && !waiting && b && !b.disabled && !document.querySelector('[data-testid=stStatusWidget]')
        && now - s.presses[s.presses.length - 1] > 15000) press();
  };
}"""
SNAPSHOT = "() => JSON.parse(JSON.stringify(window.__tl || null))"


def stored_runs(store_path) -> list[dict]:
    """The server's runs, newest first ([] before the store exists)."""
    try:
        return RunStore(store_path, write=False).runs() if Path(store_path).is_file() else []
    except RunStoreError:
        return []


def check_runs(runs: list[dict], learners: list[str]) -> dict:
    """Did the store keep one finished run per learner? Counts, and who was lost or stored twice.

    >>> check_runs([{"id": 1, "status": "finished", "config": {"learner": "a"}}], ["a", "b"])["lost"]
    ['b']
    """
    per = {learner: [run for run in runs if run["config"].get("learner") == learner] for learner in learners}
    mine = [run for found in per.values() for run in found]
    return {"stored": len(mine), "finished": sum(run["status"] == "finished" for run in mine),
            "not_finished": {run["id"]: run["status"] for run in mine if run["status"] != "finished"},
            "duplicated": [learner for learner, found in per.items() if len(found) > 1],
            "lost": [learner for learner, found in per.items() if not found]}


def server_memory_mb(address: str) -> dict:
    """The server's resident memory now (VmRSS) and at its peak so far (VmHWM), in MB."""
    status = Path(f"/proc/{SERVERS[address].pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def new_learner(browser, address: str) -> tuple:
    """A browser context of its own (a learner with a known token), a tab, and the record of what it saw."""
    from tl_lessons.dashboard.jobs import learner_id

    token = secrets.token_urlsafe(18)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies([{"name": LEARNER_COOKIE, "value": token, "url": address}])
    page = context.new_page()
    record = {"learner": learner_id(token), "opened": False, "console_errors": [], "page_errors": [], "crashed": False}
    page.on("console", lambda msg: record["console_errors"].append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: record["page_errors"].append(str(error)))
    page.on("crash", lambda _: record.update(crashed=True))
    return page, record


def seen(page, record) -> dict | None:
    """What the page has recorded so far (None once it cannot be asked: crashed or closed)."""
    try:
        return None if record["crashed"] else page.evaluate(SNAPSHOT)
    except Exception:  # a crashed or hung-up page: what it saw before stays in `record`
        return None


def final_look(page) -> dict:
    """Is the lab still there: its Train button and its "3 · Train" heading?"""
    try:
        main = page.get_by_test_id("stMainBlockContainer")
        return {"train_button": main.get_by_role("button", name="Train", exact=True).count() > 0,
                "train_heading": main.get_by_text("3 · Train", exact=True).count() > 0,
                "main_chars": len(main.first.inner_text(timeout=5000)) if main.count() else 0,
                "dialog": [text[:200] for text in page.get_by_role("dialog").all_inner_texts()]}
    except Exception as error:
        return {"train_button": False, "train_heading": False, "main_chars": 0, "error": str(error)[:200]}


def trial(browser, address: str, store_path, learners: int, timeout_s: float) -> list[dict]:
    """One class: `learners` fresh contexts open the lab, press Train together, and are watched until
    their runs end, the server has nothing left to do, or `timeout_s` passes. One record per learner."""
    deadline = time.monotonic() + timeout_s
    tabs = []
    try:
        for _ in range(learners):
            page, record = new_learner(browser, address)
            tabs.append((page, record))
            page.set_default_timeout(max(1.0, min(120.0, deadline - time.monotonic())) * 1000)
            try:
                open_lab(page, address)
                page.evaluate(RECORDER)
                record["opened"] = True
            except Exception as error:
                record["open_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        opened_in_s = time.monotonic() + timeout_s - deadline
        at = time.time() * 1000 + 1000 + 100 * learners  # time enough to tell every page before it comes
        for page, record in tabs:
            if record["opened"]:
                page.evaluate("at => window.__tl.pressAt(at)", at)
        states, quiet_since, last = {}, time.monotonic(), None
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            states = {id(record): seen(page, record) or states.get(id(record)) for page, record in tabs}
            runs = check_runs(stored_runs(store_path), [record["learner"] for _, record in tabs])
            running = runs["not_finished"]
            if (runs["stored"], running) != last:
                quiet_since, last = time.monotonic(), (runs["stored"], running)
            live = [state for _, record in tabs if record["opened"] and not record["crashed"]
                    for state in [states.get(id(record))] if state is None or state["ended"] is None]
            if not live:
                break
            # With one slot a waiting run always has one training ahead of it; a page that still shows
            # progress then (disconnected, say) would wait forever, so only the server's store counts.
            busy = "running" in running.values() or not runs["stored"]
            if not busy and time.monotonic() - quiet_since >= IDLE_S:
                break
        # The end of a run redraws the whole page: let that settle, and give a blank page time to come back.
        grace = min(deadline, time.monotonic() + BLANK_GRACE_S)
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        while True:
            looks = [final_look(page) if record["opened"] and not record["crashed"] else None for page, record in tabs]
            if all(look is None or (look["train_button"] and look["train_heading"]) for look in looks) \
                    or time.monotonic() >= grace:
                break
            time.sleep(POLL_S)
        for (page, record), look in zip(tabs, looks):
            record["seen"] = seen(page, record) or states.get(id(record))
            record["final"] = look
            record["blank"] = record["opened"] and not (look and look["train_button"] and look["train_heading"])
            record["opened_in_s"] = round(opened_in_s, 1)
    finally:
        for page, _ in tabs:
            with suppress(Exception):  # a crashed page's context may be gone already
                page.context.close()
    return [record for _, record in tabs]


def seconds(later, earlier) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) / 1000, 2)


def learner_times(record: dict, runs: list[dict]) -> dict:
    """A learner's times from the press: as the page showed them, and as the run store has them."""
    state = record.get("seen") or {}
    presses = state.get("presses") or []
    pressed = presses[0] if presses else None
    mine = sorted((run for run in runs if run["config"].get("learner") == record["learner"]), key=lambda run: run["id"])
    run = mine[0] if mine else {}
    finished = (state.get("endText") or "").startswith("Finished")

    def stored(when):  # the store's seconds, on the page's clock of milliseconds
        return seconds(None if run.get(when) is None else run[when] * 1000, pressed)

    return {
        "learner": record["learner"][:4], "pressed": pressed, "presses": len(presses),
        "waited_in_line": state.get("waiting") is not None,
        "to_started_s": seconds(state.get("started"), pressed),
        "to_first_step_s": seconds(state.get("firstStep"), pressed),
        "to_finished_s": seconds(state.get("ended"), pressed) if finished else None,
        "status": state.get("endText") or state.get("status") or record.get("open_error", ""),
        "blank": record["blank"], "blank_from_s": seconds(state.get("blankSince"), pressed),
        "blank_episodes": state.get("blanks", 0), "longest_blank_s": seconds(state.get("longestBlankMs"), 0),
        "console_errors": record["console_errors"], "page_errors": record["page_errors"],
        "errors_at_s": [[seconds(at, pressed), text] for at, text in state.get("errors") or []],
        "crashed": record["crashed"], "final": record.get("final"),
        "run_ids": [run["id"] for run in mine], "run_status": run.get("status"),
        "server_to_started_s": stored("created"), "server_to_ended_s": stored("ended"),
        "training_s": (run.get("results") or {}).get("elapsed"),
    }


def most_at_once(runs: list[dict]) -> int:
    """The most runs that trained at the same time, by the store's start and end times (the line's slots at most).

    >>> most_at_once([{"created": 0, "ended": 2}, {"created": 1, "ended": 3}, {"created": 3, "ended": 4}])
    2
    """
    edges = sorted((at, step) for run in runs for at, step in ((run["created"], 1), (run.get("ended") or 1e18, -1)))
    return max((sum(step for _, step in edges[:i + 1]) for i in range(len(edges))), default=0)


def spread(values) -> dict:
    """Median and worst of the values that are there, and how many are."""
    values = [value for value in values if value is not None]
    return {"median": round(statistics.median(values), 2) if values else None,
            "worst": round(max(values), 2) if values else None, "n": len(values)}


def summary(records: list[dict], runs: list[dict], memory: dict, wall_s: float) -> dict:
    """What one trial (or all of them) comes to: the numbers of the table."""
    learners = [learner_times(record, runs) for record in records]
    check = check_runs(runs, [record["learner"] for record in records])
    mine = [run for run in runs if run["config"].get("learner") in {record["learner"] for record in records}]
    presses = [learner["pressed"] for learner in learners if learner["pressed"] is not None]
    errors = [text for learner in learners for text in learner["console_errors"] + learner["page_errors"]]
    return {"learners": len(records), "opened": sum(record["opened"] for record in records),
            "opened_in_s": max((record.get("opened_in_s", 0) for record in records), default=None),
            "pressed_within_s": seconds(max(presses), min(presses)) if presses else None,
            "blank_pages": sum(learner["blank"] for learner in learners),
            "console_errors": len(errors), "console_error_texts": sorted(set(errors)),
            "runs_stored": check["stored"], "runs_finished": check["finished"],
            "runs_not_finished": check["not_finished"], "runs_duplicated": len(check["duplicated"]),
            "runs_lost": len(check["lost"]), "most_at_once": most_at_once(mine),
            "blank_from_s": spread(learner["blank_from_s"] for learner in learners if learner["blank"]),
            "to_started_s": spread(learner["to_started_s"] for learner in learners),
            "to_finished_s": spread(learner["to_finished_s"] for learner in learners),
            "server_to_started_s": spread(learner["server_to_started_s"] for learner in learners),
            "server_to_ended_s": spread(learner["server_to_ended_s"] for learner in learners),
            "training_s": spread(learner["training_s"] for learner in learners),
            "server_peak_mb": round(memory.get("VmHWM", 0)), "wall_s": round(wall_s, 1), "per_learner": learners}


def measure_classroom(learners: int = LEARNERS, tiny: bool = False, trials: int = 1, timeout_s: float = TRIAL_TIMEOUT_S,
                      chromium: str | None = None, app_folder=ROOT) -> dict:
    """`trials` classes of `learners` on one dashboard (a run store of its own; `tiny`: TL_LESSONS_APP_TINY=1,
    runs of seconds, else the lab's real first settings); prints the table and returns its numbers,
    each trial's under "trials"."""
    from playwright.sync_api import sync_playwright

    from tl_lessons import data
    from tl_lessons.dashboard.jobs import training_slots

    chromium = chromium or chromium_path()
    if chromium is None:
        raise RuntimeError("No Chromium here: install it (apt-get install -y chromium) or set TL_LESSONS_CHROMIUM.")
    started = time.monotonic()
    results = {"learners": learners, "trials_run": trials, "tiny": tiny,
               "runs": "tiny (TL_LESSONS_APP_TINY=1)" if tiny else "the lab's real first settings",
               "data": str(data.data_dir()), "cifar_on_disk": data.cifar_available("cifar100"),
               "slots": training_slots(), "trials": []}
    with tempfile.TemporaryDirectory() as folder:
        store_path = Path(folder) / "runs.sqlite"
        # No file watcher: a source file saved during the class would reload the server's modules, and with
        # them the line of runs (a new, empty one), so that runs meant to wait would train at once.
        env = {"TL_LESSONS_RUNS": str(store_path), "PYTHONPATH": str(app_folder),
               "TL_LESSONS_APP_TINY": "1" if tiny else "0", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
        with dashboard(app_folder, env, log_path=Path(folder) / "streamlit.log") as address, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                everyone = []
                for _ in range(trials):
                    began = time.monotonic()
                    records = trial(browser, address, store_path, learners, timeout_s)
                    everyone += records
                    results["trials"].append(summary(records, stored_runs(store_path), server_memory_mb(address),
                                                     time.monotonic() - began))
                    done = results["trials"][-1]  # said as it comes: a long class is not all-or-nothing
                    print(f"trial {len(results['trials'])}: {done['blank_pages']} blank pages, {done['console_errors']} "
                          f"errors, Train → Finished {done['to_finished_s']}, {done['wall_s']:.0f} s", flush=True)
                memory = server_memory_mb(address)
            finally:
                browser.close()
            runs = stored_runs(store_path)
        log = (Path(folder) / "streamlit.log").read_text(errors="replace")  # what the server said, for the errors
    results.update(server_tracebacks=log.count("Traceback (most recent call last)"), server_log_tail=log[-6000:])
    overall = summary(everyone, runs, memory, time.monotonic() - started)
    overall.pop("per_learner")
    ours = {record["learner"] for record in everyone}
    spreads = [t["pressed_within_s"] for t in results["trials"] if t["pressed_within_s"] is not None]
    results.update({**overall, "learners": learners, "pressed_within_s": max(spreads, default=None),
                    "blank_pages_per_trial": [t["blank_pages"] for t in results["trials"]],
                    "unattributed_runs": sum(run["config"].get("learner") not in ours for run in runs)})
    print_table(results)
    return results


def print_table(r: dict):
    """The class in a dozen lines."""

    def times(spread: dict, of: int = r["learners"] * r["trials_run"]) -> str:
        return f"{spread['median']} / {spread['worst']} s" + ("" if spread["n"] == of else f" ({spread['n']} seen)")

    ends = [(learner["status"] or "-").split(".")[0].split(":")[0] for t in r["trials"] for learner in t["per_learner"]]
    lines = [
        ("learners (per trial) × trials", f"{r['learners']} × {r['trials_run']}, {r['opened']} pages opened "
                                           f"(in {r['opened_in_s']} s)"),
        ("runs", f"{r['runs']}; {r['slots']} train(s) at once (most seen: {r['most_at_once']}); data {r['data']}"),
        ("Train pressed by all within", f"{r['pressed_within_s']} s"),
        ("blank pages at the end (per trial)", f"{r['blank_pages']} {r['blank_pages_per_trial']}"),
        ("blank pages: went blank after Train, median / worst", times(r["blank_from_s"], r["blank_pages"])),
        ("console and page errors", f"{r['console_errors']}"),
        ("final status lines", "; ".join(f"{ends.count(end)} × {end}" for end in dict.fromkeys(ends))),
        ("runs stored / finished / duplicated / lost", f"{r['runs_stored']} / {r['runs_finished']} / "
                                                       f"{r['runs_duplicated']} / {r['runs_lost']}"),
        ("Train → started (page), median / worst", times(r["to_started_s"])),
        ("Train → Finished (page), median / worst", times(r["to_finished_s"])),
        ("Train → run started (store), median / worst", times(r["server_to_started_s"])),
        ("Train → run ended (store), median / worst", times(r["server_to_ended_s"])),
        ("training seconds of a run (its clock), median / worst", times(r["training_s"])),
        ("server peak memory (VmHWM); tracebacks in its log", f"{r['server_peak_mb']} MB; {r['server_tracebacks']}"),
        ("wall time", f"{r['wall_s']} s"),
    ]
    print("classroom: a class pressing Train together on one dashboard")
    for what, value in lines:
        print(f"  {what:<55} {value}")
    for text in dict.fromkeys(text.splitlines()[0] for text in r["console_error_texts"] if text):
        print(f"  error seen: {text[:300]}")
    if r["runs_not_finished"]:
        print(f"  runs not finished: {r['runs_not_finished']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A class of learners pressing Train together on one dashboard.")
    parser.add_argument("--learners", type=int, default=LEARNERS)
    parser.add_argument("--tiny", action="store_true", help="tiny runs (TL_LESSONS_APP_TINY=1)")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=TRIAL_TIMEOUT_S, help="seconds per trial")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    measured = measure_classroom(args.learners, args.tiny, args.trials, args.timeout)
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=2, default=str))
