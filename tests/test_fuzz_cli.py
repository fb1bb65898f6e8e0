"""Property-based fuzzing of the command line (issue "Hostile input"): ``core.cli.main([...])`` in-process.

Hypothesis drives the identifier, number, free-text and timestamp arguments of the commands that take them
(``workers rename/erase/list``, ``enroll`` with a real photo, ``analyze --every`` on a real clip, ``calibrate
--target-far/--enroll``, ``timeline retain --days``, ``--threshold``, ``timeline export --since/--until``,
``--actor``, ``--json``): control characters, 600+ characters, non-ASCII, undecodable argv bytes (as Python hands
them over, surrogate-escaped), empty values, option-looking values, ``../``, look-alike and reserved ids. Properties
of every run:

* ``main`` returns 0 or a documented exit code (0, 1, 2, 3, 4, 130), never raises: a traceback is a failure, and so is a
  ``SystemExit`` other than argparse's usage error (2, ``usage:`` on stderr);
* a failure prints exactly one stderr line, starting with ``error: ``, that a terminal shows as it is (no control
  characters echoed from the input) - argparse usage errors excepted - and never a traceback; stdout and stderr
  are written as a UTF-8 terminal would take them (stdout strict);
* bad input exits 2: with the weights present and the data folder healthy, 3 (missing weights) or 4 (storage
  problem) is a misclassified input error;
* the data folder is unchanged when the exit code is non-zero: gallery, timeline store, settings byte-for-byte, and
  the audit log at most gains lines recording the failure (``outcome`` other than ``done``);
* ``--actor NAME`` (a valid one) is the actor of the audit line an audited command writes, and ``--json`` makes
  stdout one JSON document, wherever the option stands on the command line ("before or after it", docs/api.md).

Every example of a test runs (no stop at the first failure), and the test then fails listing each kind of problem
with the first input that showed it and how many runs did: bounded time, every finding. ``FUZZ_SHRINK=1`` raises at
the first problem instead, so that Hypothesis shrinks it to a minimal input (slow: hundreds of re-runs per finding).

Bounded for CI: ``FUZZ_EXAMPLES`` (default 120) examples for each cheap command, a fifth of that (at least 10) for
those that load models or analyse (enroll, analyze, calibrate, identify): about a minute and a half on a 2-core
machine. The long run (docs/fuzzing.md)::

    FUZZ_SEED=random FUZZ_EXAMPLES=2000 TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python -m pytest -q tests/test_fuzz_cli.py \
        -p no:cacheprovider

The CI run is repeatable (Hypothesis derandomized: a commit that passed here passes there; new findings come from
the long runs); ``FUZZ_SEED=random`` draws new inputs (``--hypothesis-seed=N`` replays them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shutil
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import PEOPLE, SHARED_DATA, photos, snapshot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))  # a cheap command's run takes 20-300 ms
SLOW_EXAMPLES = max(EXAMPLES // 5, 10)  # commands that load models or analyse: each example costs 0.1-3 s
DOCUMENTED_EXIT = {0, 1, 2, 3, 4, 130}  # docs/api.md: ok, partial, bad input, no weights, storage, interrupted
ROWS_ONLY = "w_rows_only"  # has timeline rows but is not enrolled (erase and export must still find it)
VIDEO = SHARED_DATA / "video" / "id2_vcd_swwp2s.mp4"
#: By default every example runs and each kind of problem is listed with the first input that showed it (bounded
#: time, every finding); FUZZ_SHRINK=1 raises at the first one instead, so that Hypothesis shrinks it to a minimum.
SHRINK = os.environ.get("FUZZ_SHRINK", "0") not in ("", "0")
EXPLORE = os.environ.get("FUZZ_SEED", "").strip() == "random"
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, print_blob=True,
                derandomize=not EXPLORE)

#: Characters that break a line or drive a terminal (tab allowed): an error is one line a terminal shows as it is.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
STATS: dict = {"runs": Counter(), "exits": Counter(), "findings": {}}
FOUND: list[str] = []  # finding keys in the order first seen


# --- the data folder -----------------------------------------------------------------------------------------------

@dataclass
class CliData:
    live: Path  # FACEDASH_DATA_DIR of every run; put back from ``pristine`` after a run that changed it
    pristine: Path
    before: dict = field(repr=False)  # every file's bytes in ``pristine``
    calibrate_closed: Path = Path()
    calibrate_open: Path = Path()


def _rows(worker: str | None, days_ago: float, n: int):
    from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    crop = np.zeros((8, 8, 3), np.uint8)
    return [Observation(now - dt.timedelta(days=days_ago, minutes=k), "cli", DetectedFace(Box(0, 0, 50, 50), 0.99, crop),
                        IdentityMatch(worker, 0.2, 0.4, "Dlib@dlib5-150-p0.25", "cosine"),
                        EmotionResult.from_probabilities([1, 1, 1, 5, 1, 1, 2], "fer")) for k in range(n)]


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory, enrolled_gallery, weights_home):
    """A data folder: the five enrolled people, timeline rows (recent and past retention), settings from the env."""
    from core.config import get_settings, load_settings
    from core.timeline import TimelineStore

    root = tmp_path_factory.mktemp("fuzz_cli")
    pristine = root / "pristine"
    shutil.copytree(enrolled_gallery[0].folder, pristine / "gallery")
    store = TimelineStore.from_settings(load_settings(data_dir=pristine, store_uri=None))
    store.append(_rows("madonna", 1, 4) + _rows("elton_john", 2, 3) + _rows(ROWS_ONLY, 3, 2) + _rows(None, 1, 2)
                 + _rows("madonna", 400, 3))
    store.close()
    closed, opened = root / "calibrate-closed", root / "calibrate-open"  # tiny labelled folders: a few seconds each
    for person in PEOPLE[:3]:
        for p in photos(person, "val")[:2]:
            (closed / person).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, closed / person / p.name)
        for p in photos(person, "train")[:3]:
            (opened / "people" / person).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, opened / "people" / person / p.name)
    (opened / "strangers").mkdir()
    for p in photos(PEOPLE[4], "val")[:2]:
        shutil.copy(p, opened / "strangers" / p.name)
    live = root / "data"
    shutil.copytree(pristine, live)
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("FACEDASH_"):
                env.delenv(name)
        env.setenv("FACEDASH_DATA_DIR", str(live))
        env.setenv("FACEDASH_DEEPFACE_HOME", str(weights_home))
        env.setenv("FACEDASH_EMOTION_ENABLED", "true")  # analyze prints no "emotion disabled" note then
        env.setenv("FACEDASH_EMOTION_PURPOSE", "safety")
        get_settings.cache_clear()
        yield CliData(live, pristine, snapshot(pristine), closed, opened)
    get_settings.cache_clear()


# --- one run and its properties ------------------------------------------------------------------------------------

class Finding(AssertionError):
    """A fuzz failure; one subclass per kind of problem, so that Hypothesis reports each kind as its own bug."""


_FINDING_KINDS: dict[str, type] = {}


@dataclass
class Run:
    argv: list[str]
    code: int | None
    out: str
    err: str
    crash: str  # the traceback of an exception main() let out, or ""
    changed: list[str]
    new_audit: list[dict]

    @property
    def usage_error(self) -> bool:
        return self.code == 2 and self.err.startswith("usage:")


def _audit_lines(data: Path) -> list[str]:
    path = data / "audit.log"
    return path.read_text("utf-8", "replace").splitlines() if path.exists() else []


def run_cli(data: CliData, argv: list[str]) -> Run:
    from core.cli import main
    from core.config import get_settings

    get_settings.cache_clear()
    audit_before = _audit_lines(data.live)
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    # what a UTF-8 terminal does with the text: stdout strict (an unencodable character raises), stderr escapes
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True)
    code, crash = None, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else None
        if code != 2:
            crash = f"SystemExit({exc.code!r})"
    except KeyboardInterrupt:  # the person running the tests, not a finding
        raise
    except BaseException:  # anything else main() lets out is what this fuzzer looks for
        crash = traceback.format_exc()
    out.flush()
    err.flush()
    after = snapshot(data.live)
    changed = sorted(name for name in set(after) | set(data.before)
                     if not name.endswith(".lock") and after.get(name) != data.before.get(name))
    audit_after = _audit_lines(data.live)
    new_audit = []
    if audit_after[:len(audit_before)] == audit_before:
        for line in audit_after[len(audit_before):]:
            try:
                new_audit.append(json.loads(line))
            except ValueError:
                new_audit.append({"unparsable": line})
    else:
        new_audit.append({"rewritten": "existing audit lines changed"})
    if changed:
        shutil.rmtree(data.live)
        shutil.copytree(data.pristine, data.live)
    return Run(list(argv), code if isinstance(code, int) else None, out_bytes.getvalue().decode("utf-8", "replace"),
               err_bytes.getvalue().decode("utf-8", "replace"), crash, changed, new_audit)


def crash_site(crash: str) -> str:
    """``TypeError at core/cli/faces.py:103``: the exception and the last line of the project it went through."""
    last = crash.strip().splitlines()[-1] if crash.strip() else "?"
    name = last.split(":", 1)[0].rsplit(".", 1)[-1]
    sites = re.findall(r'File "[^"]*?/(core/[^"]+)", line (\d+)', crash)
    return f"{name} at {sites[-1][0]}:{sites[-1][1]}" if sites else name


def check(run: Run, command: str, *, actor: str | None = None, json_output: bool = False) -> None:
    """The properties every run must have (see the module docstring); raises one Finding naming all that fail."""
    STATS["runs"][command] += 1
    STATS["exits"][f"{command} {run.code if not run.crash else 'crash'}"] += 1
    problems: dict[str, str] = {}
    if run.crash:
        problems[f"uncaught_exception[{crash_site(run.crash)}]"] = run.crash.strip().splitlines()[-1]
    elif run.code not in DOCUMENTED_EXIT:
        problems["undocumented_exit_code"] = f"exit code {run.code!r}"
    if "Traceback (most recent call last)" in run.err:
        problems["traceback_on_stderr"] = run.err[-300:]
    if run.code != 0 and not run.crash and not run.usage_error:
        lines = run.err.removesuffix("\n").split("\n")
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems["stderr_not_one_error_line"] = repr(run.err[-400:])
        elif CONTROL.search(lines[0]):
            problems["error_line_has_control_characters"] = (
                f"{sorted(set(CONTROL.findall(lines[0])))!r} in {lines[0][:300]!r}")
    if run.code in (3, 4):  # the weights are there and the data folder is healthy: the input was what was wrong
        cause = re.split(r"['\"]", run.err.removeprefix("error: "), maxsplit=1)[0].strip()[:50]
        problems[f"exit_{run.code}_with_healthy_storage[{cause}]"] = (
            f"exit {run.code} ({'missing weights' if run.code == 3 else 'storage problem'}) while the weights and the "
            f"data folder are fine: a bad input is 2")
    if run.code != 0:
        stored = [name for name in run.changed if name != "audit.log"]
        if stored:
            problems["failure_changed_data"] = f"changed: {stored}"
        if any("outcome" in line and line["outcome"] == "done" for line in run.new_audit):
            problems["failure_audited_as_done"] = f"new audit lines: {run.new_audit}"[:400]
    if any("outcome" not in line for line in run.new_audit):
        problems["audit_log_damaged"] = f"the audit log was rewritten or got a line that is no record: {run.new_audit}"[:400]
    if run.code == 0 and actor is not None and run.new_audit:
        recorded = {line.get("actor") for line in run.new_audit}
        if recorded != {actor.strip()}:
            problems["actor_not_recorded"] = f"--actor {actor!r} given, the audit line says {sorted(map(str, recorded))}"
    if run.code == 0 and json_output:
        try:
            json.loads(run.out)
        except ValueError:
            problems["json_not_json"] = f"--json given, stdout is {run.out[:200]!r}"
    if problems:
        kinds = "+".join(sorted(problems))
        key = f"{command}: {kinds}"
        first = key not in STATS["findings"]
        STATS["findings"].setdefault(key, [run.argv, run.code, run.err[-600:], run.crash[-1500:], problems, 0])
        STATS["findings"][key][-1] += 1
        if first:
            FOUND.append(key)
        if SHRINK:  # let Hypothesis shrink it (each kind its own exception class: reported as its own bug)
            cls = _FINDING_KINDS.setdefault(kinds, type(f"Finding[{kinds}]", (Finding,), {}))
            raise cls("\n".join(f"{k}: {v}" for k, v in problems.items())
                      + f"\nargv: {run.argv!r}\nexit: {run.code}\nstderr: {run.err[-800:]!r}\n{run.crash}")


def describe(key: str) -> list[str]:
    argv, code, err, crash, problems, count = STATS["findings"][key]
    lines = [f"FINDING {key} ({count} run(s))", f"  argv: {argv!r}"[:700], f"  exit: {code}  stderr: {err[-300:]!r}"]
    lines += [f"  {k}: {v}"[:500] for k, v in problems.items()]
    return lines + [f"  {line}" for line in crash.strip().splitlines()[-8:]]


def expect_no_findings(fuzz, *args) -> None:
    """Run the Hypothesis test ``fuzz`` to its last example, then fail listing every kind of problem it found."""
    start = len(FOUND)
    fuzz(*args)
    new = FOUND[start:]
    if new:
        pytest.fail(f"{len(new)} kind(s) of problem found:\n" + "\n".join(line for key in new for line in describe(key)),
                    pytrace=False)


# --- argument strategies -------------------------------------------------------------------------------------------

# argv never holds NUL (C strings); undecodable bytes arrive as U+DC80-U+DCFF (surrogateescape), nothing else lone
_argv_char = st.one_of(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                       st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF))
_control = st.characters(min_codepoint=1, max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028\u2029\u202e\ufeff")

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", " ", "\t", "\n", "a\nb", "line\r\nbreak", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "x" * 600,
                     "é" * 700, "名前" * 50, "😀" * 101, "\u202egnp.exe", "\udcff\udcfe", "trailing\n", " padded ",
                     "-", "--json", "-q", "%s%n%x", "$(id)", "'; DROP TABLE workers; --", "null", "None", "\ufeffbom",
                     "e\u0301" * 60, "\u200b", "a" * 100, "a" * 101]),
    st.text(_argv_char, max_size=120),
    st.text(_control | st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=40),
    st.integers(99, 110).map(lambda n: "n" * n),  # around the 100-character limit of names
    st.integers(495, 610).map(lambda n: "c" * n),  # around the 500-character limit of consent texts
)
WORKER_IDS = st.one_of(
    st.sampled_from([*PEOPLE, ROWS_ONLY]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True),
    st.sampled_from(["", " ", "madonna ", " madonna", "Madonna", "MADONNA", "madonna\n", "m\u0430donna", "../madonna",
                     "..", ".", "a/b", "a\\b", "-", "-x", "--json", "demo-1", "DEMO-x", "x" * 64, "x" * 65, "x" * 600,
                     "名前", "w\x1b[31m", "w\udcff", "w;rm -rf /", "CON", "nul", "madonna/../elton_john", "~root",
                     "_lead", ".hidden", "w\t", "١٢٣"]),
    st.text(_argv_char, max_size=70),
)
ACTORS = st.one_of(st.sampled_from(["alice", "Dr. Ada Lovelace", "Zoë", "名前", "  bob  "]), HOSTILE_TEXT)


def valid_actor(actor: str) -> bool:
    name = actor.strip()
    return bool(name) and len(name) <= 100 and not any(ord(c) < 0x20 or c == "\x7f" for c in name)


def _number_text(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Integers and floats as argv text, hostile spellings, and ``valid`` (the values that do work)."""
    return st.one_of(
        valid,
        st.integers(-10**30, 10**30).map(str),
        st.integers(0, 10**7).map(str),
        st.integers(0, 40).map(lambda e: str(10**e)),  # past every range: pandas' dates, int64, timedelta
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", " ", "1.5", "1e3", "1e-400", "1e309", "0x10", "0x1p-3", "+5", " 5", "5 ", "٥", "５",
                         "1_000", "-0", "0", "nan", "-nan", "inf", "-inf", "Infinity", "1/3", "5\n", "\u0665\u0660",
                         "9" * 400, "--", "-1", "true"]),
    )


def arrange(draw, words: list[str], *groups: list[str]) -> list[str]:
    """Each option group before the command, between a command and its sub-command, or after it: all documented."""
    slots: list[list[str]] = [[] for _ in range(len(words) + 1)]
    for group in groups:
        slots[draw(st.integers(0, len(words)))].extend(group)
    argv = list(slots[0])
    for word, slot in zip(words, slots[1:]):
        argv += [word, *slot]
    return argv


def _opt(draw, name: str, value: str) -> list[str]:
    """``--name value`` or ``--name=value`` (the latter lets a value that starts with ``-`` through argparse)."""
    return [f"{name}={value}"] if draw(st.booleans()) else [name, value]


# --- the fuzz tests ------------------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=EXAMPLES)
@given(data=st.data())
def _fuzz_workers_rename_erase_list(cli_data, data):
    """Ids and names for rename/erase/list, an actor sometimes, ``--json`` anywhere."""
    action = data.draw(st.sampled_from(["rename", "erase", "list"]), label="action")
    rest = []
    if action != "list":
        rest += _opt(data.draw, "--worker", data.draw(WORKER_IDS, label="worker"))
    if action == "rename":
        rest += _opt(data.draw, "--new-name", data.draw(HOSTILE_TEXT, label="new name"))
    actor = data.draw(st.none() | ACTORS, label="actor")
    as_json = data.draw(st.booleans(), label="json")
    groups = ([_opt(data.draw, "--actor", actor)] if actor is not None else []) + ([["--json"]] if as_json else [])
    argv = arrange(data.draw, ["workers", action], *groups) + rest
    check(run_cli(cli_data, argv), f"workers {action}", actor=actor if actor is not None and valid_actor(actor) else None,
          json_output=as_json)


def test_workers_rename_erase_list(cli_data):
    expect_no_findings(_fuzz_workers_rename_erase_list, cli_data)


@settings(FUZZ, max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def _fuzz_enroll_ids_and_free_text(cli_data, data):
    """A real photo; hostile ids, consent texts, consent-by and display names (refused before anything is written)."""
    argv = ["enroll", "-q", *_opt(data.draw, "--worker", data.draw(WORKER_IDS, label="worker")),
            *_opt(data.draw, "--consent", data.draw(st.sampled_from(["Agreed to site access logging"]) | HOSTILE_TEXT,
                                                    label="consent"))]
    for option in ("--name", "--consent-by"):
        value = data.draw(st.none() | HOSTILE_TEXT, label=option)
        if value is not None:
            argv += _opt(data.draw, option, value)
    actor = data.draw(st.none() | ACTORS, label="actor")
    if actor is not None:
        argv = _opt(data.draw, "--actor", actor) + argv
    argv.append(str(photos("madonna", "val")[0]))
    check(run_cli(cli_data, argv), "enroll", actor=actor if actor is not None and valid_actor(actor) else None)


def test_enroll_ids_and_free_text(cli_data):
    expect_no_findings(_fuzz_enroll_ids_and_free_text, cli_data)


@settings(FUZZ, max_examples=SLOW_EXAMPLES)
@given(every=_number_text(st.integers(100, 300).map(str)))
def _fuzz_analyze_every(cli_data, every):
    """``--every N`` on a real clip: 1-300 analyses (values under 100 take seconds, so the valid ones drawn are big)."""
    try:
        if 1 <= int(every) < 100:  # a spelling argparse's int() reads as a small valid value: seconds of analysis
            every = "100"
    except ValueError:
        pass
    check(run_cli(cli_data, ["analyze", "-q", f"--every={every}", str(VIDEO)]), "analyze --every")


def test_analyze_every(cli_data):
    expect_no_findings(_fuzz_analyze_every, cli_data)


@settings(FUZZ, max_examples=SLOW_EXAMPLES)
@given(target_far=_number_text(st.floats(0.01, 0.5).map(repr)), enroll=st.none() | _number_text(st.sampled_from(["1", "2"])),
       open_set=st.booleans())
def _fuzz_calibrate_numbers(cli_data, target_far, enroll, open_set):
    """``--target-far F`` (0 < F < 1) and ``--enroll N`` (open-set layout, N >= 1) on tiny labelled folders."""
    folder = cli_data.calibrate_open if open_set else cli_data.calibrate_closed
    argv = ["calibrate", "-q", f"--target-far={target_far}", str(folder)]
    if enroll is not None:
        argv.insert(3, f"--enroll={enroll}")
    check(run_cli(cli_data, argv), "calibrate")


def test_calibrate_numbers(cli_data):
    expect_no_findings(_fuzz_calibrate_numbers, cli_data)


def run_timeline_as(cli_data, data, argv: list[str], actor: str | None) -> None:
    """A ``timeline <command> ...`` run, with ``--actor`` (when drawn) at a drawn place; the actor must be audited."""
    label = " ".join(argv[:2])
    if actor is not None:
        argv = arrange(data.draw, argv[:2], _opt(data.draw, "--actor", actor)) + argv[2:]
    check(run_cli(cli_data, argv), label, actor=actor if actor is not None and valid_actor(actor) else None)


@settings(FUZZ, max_examples=EXAMPLES)
@given(days=_number_text(st.integers(1, 5000).map(str)), actor=st.none() | ACTORS, data=st.data())
def _fuzz_timeline_retain_days(cli_data, days, actor, data):
    run_timeline_as(cli_data, data, ["timeline", "retain", f"--days={days}"], actor)


def test_timeline_retain_days(cli_data):
    expect_no_findings(_fuzz_timeline_retain_days, cli_data)


@settings(FUZZ, max_examples=EXAMPLES)
@given(threshold=_number_text(st.floats(0.01, 2.0).map(repr)), identify=st.integers(0, 5), data=st.data())
def _fuzz_threshold(cli_data, threshold, identify, data):
    """``--threshold T`` before or after a cheap command; an identification (models loaded) one time in six."""
    command = ["identify", "-q", str(photos("elton_john", "val")[0])] if identify == 0 else ["workers", "list"]
    argv = arrange(data.draw, command[:2], [f"--threshold={threshold}"]) + command[2:]
    check(run_cli(cli_data, argv), "identify --threshold" if identify == 0 else "workers list --threshold")


def test_threshold(cli_data):
    expect_no_findings(_fuzz_threshold, cli_data)


TIMES = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(dt.datetime.isoformat),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14)),
                                            dt.timezone(-dt.timedelta(hours=23, minutes=59))])).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["", " ", "now", "today", "yesterday", "2024-13-01", "2024-02-30", "0000-01-01", "99999-01-01",
                     "-2024-01-01", "2024-01-01T25:00", "2024-01-01T00:00+25:00", "2024-01-01T00:00+23:59",
                     "1e10", "1700000000", "1700000000000", "２０２４-01-01", "2024-W01-1", "NaT", "nan", "inf",
                     "9999-12-31T23:59:59.999999", "0001-01-01T00:00:00-23:59", "2024-01-01T00:00:00Z",
                     "2024-01-01 00:00:00 UTC", "Mon, 01 Jan 2024 00:00:00 GMT", "2024-1-1", "20240101T000000"]),
    st.text(_argv_char, max_size=30),
)


@settings(FUZZ, max_examples=EXAMPLES)
@given(worker=st.sampled_from(["madonna", ROWS_ONLY, "elton_john"]) | WORKER_IDS, since=st.none() | TIMES,
       until=st.none() | TIMES, actor=st.none() | ACTORS, data=st.data())
def _fuzz_timeline_export_times(cli_data, worker, since, until, actor, data):
    """One worker's rows to stdout (CSV) between hostile timestamps."""
    argv = ["timeline", "export", f"--worker={worker}"]
    argv += [f"--since={since}"] if since is not None else []
    argv += [f"--until={until}"] if until is not None else []
    run_timeline_as(cli_data, data, argv, actor)


def test_timeline_export_times(cli_data):
    expect_no_findings(_fuzz_timeline_export_times, cli_data)


def test_cli_fuzz_summary(cli_data, capsys):
    """Runs last: what the fuzzing ran and found (the findings themselves fail the tests above)."""
    lines = [f"CLI fuzz (FUZZ_EXAMPLES={EXAMPLES}): {sum(STATS['runs'].values())} runs",
             *(f"  {n:>5}  {name}" for name, n in sorted(STATS["runs"].items())),
             "  exits: " + ", ".join(f"{k}: {n}" for k, n in sorted(STATS["exits"].items()))]
    for key in FOUND:
        lines += [f"  {line}" for line in describe(key)]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert STATS["runs"], "no command was fuzzed: run this test with the rest of tests/test_fuzz_cli.py"
