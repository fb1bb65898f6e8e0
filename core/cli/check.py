"""``python -m core check [--repair]``: read back every stored file and repair what can be repaired.

What is checked and what ``--repair`` does for each file: docs/maintenance.md (core/services/health.py does it).
Exit status 0 when nothing is left to repair (warnings do not count), 1 otherwise.
"""

from __future__ import annotations

from core.cli.common import actor_from, emit, settings_from
from core.config import SettingsFileError, ignoring_overrides_file
from core.services import health


def settings_for_check(args):
    """Settings as every command builds them, except that a corrupt saved settings file, which ``check`` reports
    and repairs, is left out instead of refused (a bad environment variable is still one clear error)."""
    try:
        return settings_from(args)
    except SettingsFileError:
        with ignoring_overrides_file():
            return settings_from(args)


def cmd_check(args, settings) -> int:
    report = health.inspect(settings)
    if args.repair:
        report = health.repair(settings, actor_from(args), report)
    emit(args, report.as_dict(), _text(report))
    return 0 if report.healthy else 1


def _text(report: health.HealthReport) -> str:
    lines = [f"data folder {report.data_dir}: {len(report.files)} file(s) checked"]
    for f in report.files:
        lines.append(f"  {f.status:<10}  {f.path}" + (f": {f.problem}" if f.problem else ""))
        if f.repair:
            prefix = "" if f.status in (health.REPAIRED, health.MANUAL, health.WARNING) else "--repair would: "
            lines.append(f"  {'':<10}    {prefix}{f.repair}")
    counts = {status: sum(f.status == status for f in report.files)
              for status in (health.REPAIRABLE, health.MANUAL, health.REPAIRED, health.WARNING)}
    if counts[health.REPAIRABLE]:
        lines.append(f"{counts[health.REPAIRABLE]} file(s) can be repaired: run `python -m core check --repair`")
    if counts[health.MANUAL]:
        lines.append(f"{counts[health.MANUAL]} file(s) need a person: see above (docs/maintenance.md)")
    if counts[health.REPAIRED]:
        lines.append(f"{counts[health.REPAIRED]} file(s) repaired (audited)")
    if counts[health.WARNING]:
        lines.append(f"{counts[health.WARNING]} warning(s): nothing to repair, see above")
    if report.healthy and not any(counts.values()):
        lines.append("every stored file is fine")
    return "\n".join(lines)
