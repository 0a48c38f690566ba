"""The ``govbot`` command line: run the bot, check, migrate, import staff, invite, audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from bot.approvals.registers import RegisterService
from bot.bootstrap import (
    SchemaOutdatedError,
    check_schema,
    head_revision,
    open_database,
    open_keys,
    upgrade_schema,
)
from bot.clock import system_clock
from bot.config import ConfigError, Settings, ensure_secret_key, load_settings
from bot.errors import AlreadyRegisteredError, DomainError, ImportFileError, StaffNotFoundError
from bot.i18n import N_, SUPPORTED, Translator, translator
from bot.runtime import Runtime, is_unavailable
from bot.services import Services, build_services

T = TypeVar("T")


def _tr() -> Translator:
    """Operators read the CLI in the deployment's default language."""
    try:
        locale = load_settings().default_locale
    except ConfigError:
        locale = "zh_CN"
    return translator(locale if locale in SUPPORTED else "zh_CN")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _refuse(
    tr: Translator, problems: Iterable[tuple[str, str]], table: Mapping[str, str]
) -> NoReturn:
    """Each (code, what) problem on its own line of stderr, in the reader's language; exit 1."""
    for code, what in problems:
        click.echo(tr.gettext(table[code], what=what), err=True)
    sys.exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


async def _with_services(
    settings: Settings, job: Callable[[Services], Awaitable[T]], *, check: bool = True
) -> T:
    keys = open_keys(settings)
    db = open_database(settings)
    try:
        if check:
            try:
                await check_schema(db)
            except SchemaOutdatedError as exc:
                _fail(str(exc))
        return await job(build_services(settings, Runtime(db, keys, system_clock)))
    finally:
        await db.dispose()


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except DomainError as exc:
        _fail(type(exc).__name__)
    except Exception as exc:
        if is_unavailable(exc):
            _fail(
                _tr().gettext(
                    "the database cannot be reached ({error}); check DATABASE_URL",
                    error=type(exc).__name__,
                )
            )
        raise
    raise AssertionError("unreachable")


@click.group(
    help="GovOffice Assistant (政务办公助手): a Telegram assistant for government office work."
)
def main() -> None:
    """The ``govbot`` command group."""


@main.command(help="Run the bot (polling; or a webhook with --webhook URL --listen HOST:PORT).")
@click.option("--webhook", "webhook_url", default=None, help="Public HTTPS base URL for Telegram.")
@click.option(
    "--listen", default=None, help="HOST:PORT for the webhook server (default 127.0.0.1:8080)."
)
def run(webhook_url: str | None, listen: str | None) -> None:
    """``govbot run``."""
    settings = _settings()
    problems = settings.problems(need_token=True)
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)
    address: tuple[str, int] | None = None
    if listen:
        host, _, port = listen.rpartition(":")
        if not port.isdigit():
            _fail("--listen must be HOST:PORT")
        address = (host or "127.0.0.1", int(port))
    from handlers.app import BotRunner, configure_logging

    configure_logging()

    async def serve() -> None:
        runner = BotRunner(settings, webhook_url=webhook_url, listen=address, freeze_heap=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await runner.start()
        except SchemaOutdatedError as exc:
            await runner.stop()
            _fail(str(exc))
        waiter = asyncio.create_task(runner.wait())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await runner.stop()
            stopper.cancel()
        if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
            _fail(f"the bot stopped: {waiter.exception()}")

    _run(serve())


@main.command(help="Validate the configuration and database connectivity; one line per problem.")
def check() -> None:
    """``govbot check``."""
    settings = _settings()
    problems = settings.problems(need_token=False)
    if not settings.token:
        problems.append(
            "TELEGRAM_BOT_TOKEN is not set: `govbot run` needs it (`govbot demo` does not)"
        )

    async def probe() -> list[str]:
        found: list[str] = []
        try:
            ensure_secret_key(settings)
        except (ConfigError, OSError) as exc:
            return [f"secret key: {exc}"]
        db = open_database(settings)
        try:
            await db.ping()
            await check_schema(db)
        except SchemaOutdatedError as exc:
            found.append(str(exc))
        except Exception as exc:
            found.append(
                f"database {settings.effective_database_url.split('@')[-1]}: "
                f"cannot connect ({type(exc).__name__})"
            )
        finally:
            await db.dispose()
        return found

    problems += asyncio.run(probe())
    from bot.surveys.charts import cjk_family

    if cjk_family() is None:  # not a failure: the charts are drawn, Chinese as boxes
        click.echo(
            "note: no CJK font for the survey charts (install fonts-noto-cjk, or run "
            "scripts/setup as root): their Chinese labels show as boxes"
        )
    for line in problems:
        click.echo(line)
    if problems:
        sys.exit(1)
    click.echo(_tr().gettext("ok: configuration and database are fine"))


@main.group(help="Database schema commands.")
def db() -> None:
    """``govbot db``."""


@db.command(help="Create or upgrade the schema to this version.")
def upgrade() -> None:
    """``govbot db upgrade``."""
    settings = _settings()

    revision = _run(upgrade_schema(settings))
    click.echo(_tr().gettext("database at revision {revision}", revision=revision))


@db.command(help="Show the schema revision of the database and of this code.")
def current() -> None:
    """``govbot db current``."""
    settings = _settings()

    async def go() -> str | None:
        database = open_database(settings)
        try:
            return await database.current_revision()
        finally:
            await database.dispose()

    click.echo(f"database: {_run(go()) or 'empty'}; code: {head_revision()}")


@main.group(help="Staff directory commands.")
def staff() -> None:
    """``govbot staff``."""


@staff.command("import", help="Import or update staff from a CSV or XLSX file.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--partial", is_flag=True, help="Write the valid rows even if some rows have errors."
)
def staff_import(file: Path, partial: bool) -> None:
    """``govbot staff import FILE``."""
    from bot.people.domain import ERROR_MESSAGES
    from bot.people.importing import read_staff_file

    settings = _settings()
    tr = translator(settings.default_locale if settings.default_locale else "zh_CN")
    try:
        rows = read_staff_file(file, file.name)
    except ImportFileError as exc:
        _fail(tr.gettext(_file_error(exc.reason), reason=exc.reason))
    click.echo(tr.gettext("{rows} rows read from {file}", rows=len(rows), file=file.name))
    bar: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if total >= 1000:
            click.echo(f"\r{done}/{total}", nl=False, err=True)
            bar["shown"] = True

    async def go(services: Services) -> Any:
        return await services.staff_import.import_staff(
            rows, actor_id=None, partial=partial, progress=progress
        )

    report = _run(_with_services(settings, go))
    if bar:
        click.echo("", err=True)
    for err in report.errors:
        click.echo(
            tr.gettext(
                ERROR_MESSAGES[err.code], line=err.line, column=err.column, value=err.value
            ),
            err=True,
        )
    summary = tr.gettext(
        "created {created}, updated {updated}, unchanged {unchanged}, errors {errors}",
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=len(report.errors),
    )
    outcome = tr.gettext("written") if report.written else tr.gettext("nothing written")
    click.echo(f"{summary}; {outcome}")
    if report.errors and not report.written:
        click.echo(
            tr.gettext("Fix the rows above, or pass --partial to import the valid rows."), err=True
        )
        sys.exit(1)


def _file_error(reason: str) -> str:
    from handlers.render.staff import FILE_ERRORS

    return FILE_ERRORS.get(reason.split(":", 1)[0], FILE_ERRORS["unreadable"])


@staff.command("disable", help="Disable a staff member at once (their account stops working).")
@click.argument("employee_no")
def staff_disable(employee_no: str) -> None:
    """``govbot staff disable EMPLOYEE_NO``."""
    settings = _settings()
    result = _run(_with_services(settings, lambda s: s.people.disable(employee_no, actor_id=None)))
    tr = _tr()
    state = tr.gettext("disabled") if result.changed else tr.gettext("already disabled")
    click.echo(f"{result.employee_no}: {state}")


@staff.command("enable", help="Enable a disabled staff member again.")
@click.argument("employee_no")
def staff_enable(employee_no: str) -> None:
    """``govbot staff enable EMPLOYEE_NO``."""
    settings = _settings()
    result = _run(_with_services(settings, lambda s: s.people.enable(employee_no, actor_id=None)))
    tr = _tr()
    state = tr.gettext("enabled") if result.changed else tr.gettext("already enabled")
    click.echo(f"{result.employee_no}: {state}")


@main.command(help="Create a one-time, expiring invite code and deep link for a staff member.")
@click.argument("employee_no")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def invite(employee_no: str, as_json: bool) -> None:
    """``govbot invite EMPLOYEE_NO``."""
    settings = _settings()

    async def go(services: Services) -> Any:
        return await services.people.create_invite(employee_no, actor_id=None)

    try:
        issued = asyncio.run(_with_services(settings, go))
    except StaffNotFoundError:
        _fail(
            _tr().gettext(
                "no active staff member with employee number {employee_no}",
                employee_no=employee_no,
            )
        )
    except AlreadyRegisteredError:
        _fail(_tr().gettext("{employee_no} is already registered", employee_no=employee_no))
    username = settings.bot_username or _bot_username(settings)
    link = f"https://t.me/{username}?start={issued.code}" if username else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "employee_no": issued.employee_no,
                    "name": issued.name,
                    "code": issued.code,
                    "link": link,
                    "expires_at": issued.expires_at.isoformat(),
                },
                ensure_ascii=False,
            )
        )
        return
    tr = _tr()
    click.echo(
        tr.gettext(
            "invite for {employee_no} {name}", employee_no=issued.employee_no, name=issued.name
        )
    )
    click.echo(tr.gettext("code:    {code}", code=issued.code))
    click.echo(
        tr.gettext(
            "link:    {link}",
            link=link or tr.gettext("(set GOVBOT_BOT_USERNAME to print the link)"),
        )
    )
    click.echo(tr.gettext("expires: {expires}", expires=tr.when(issued.expires_at)))


def _bot_username(settings: Settings) -> str | None:
    if not settings.token:
        return None

    async def ask() -> str | None:
        from telegram import Bot

        bot = Bot(settings.token or "", base_url=settings.api_base_url)
        try:
            async with bot:
                return bot.username
        except Exception:
            return None

    return asyncio.run(ask())


@main.group(help="Audit trail commands.")
def audit() -> None:
    """``govbot audit``."""


@audit.command(help="Check the audit chain; report the first broken link and exit non-zero.")
def verify() -> None:
    """``govbot audit verify``."""
    settings = _settings()
    result = _run(_with_services(settings, lambda s: s.audit.verify()))
    tr = _tr()
    if result.ok:
        click.echo(tr.gettext("audit trail intact: {n} entries", n=result.checked))
        return
    problems = {
        "mac_mismatch": N_("the entry was altered"),
        "chain_break": N_("the link to the previous entry is broken"),
        "gap": N_("an entry was removed"),
        "head_mismatch": N_("the newest entries were removed"),
        "duplicate_seq": N_("an entry was inserted twice"),
    }
    click.echo(
        tr.gettext(
            "audit trail BROKEN at entry {seq}: {problem} ({code}; {n} entries checked)",
            seq=result.first_broken_seq,
            code=result.problem,
            n=result.checked,
            problem=tr.gettext(problems.get(result.problem or "", N_("unknown problem"))),
        )
    )
    sys.exit(1)


@main.group(help="Work calendar commands (official holidays and 调休 make-up workdays).")
def calendar() -> None:
    """``govbot calendar``."""


@calendar.command(
    "import", help="Load one year from a State Council notice: a CSV file of date,type,name."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(file: Path) -> None:
    """``govbot calendar import FILE``."""
    from bot.calendar.domain import ERROR_MESSAGES, CalendarImportError, parse_notice
    from bot.calendar.services import read_notice_file

    settings = _settings()
    tr = _tr()
    try:
        rows = read_notice_file(file)
        parse_notice(rows)  # checked before the database is opened; the service checks again
    except CalendarImportError as exc:
        for problem in exc.problems:
            click.echo(
                tr.gettext(
                    ERROR_MESSAGES[problem.code],
                    line=problem.line,
                    value=problem.value,
                    year=problem.year,
                ),
                err=True,
            )
        click.echo(tr.gettext("Nothing was written; fix the lines above."), err=True)
        sys.exit(1)
    result = _run(_with_services(settings, lambda s: s.calendar.import_year(rows, actor_id=None)))
    click.echo(
        tr.gettext(
            "{year}: loaded {holidays} holidays and {workdays} make-up workdays; "
            "the year is now official.",
            year=result.year,
            holidays=result.holidays,
            workdays=result.workdays,
        )
    )


@calendar.command("show", help="List a year's holidays and make-up workdays.")
@click.argument("year", type=click.IntRange(1900, 2999))
def calendar_show(year: int) -> None:
    """``govbot calendar show YEAR``."""
    settings = _settings()
    status = _run(_with_services(settings, lambda s: s.calendar.year_status(year)))
    tr = _tr()
    for day in status.days:
        line = (
            tr.gettext(
                "{date} {weekday}: workday {name}",
                date=day.day.isoformat(),
                weekday=tr.day(day.day, "EEE"),
                name=day.name or "",
            )
            if day.is_workday
            else tr.gettext(
                "{date} {weekday}: holiday {name}",
                date=day.day.isoformat(),
                weekday=tr.day(day.day, "EEE"),
                name=day.name or "",
            )
        )
        click.echo(line.rstrip())
    if status.official:
        click.echo(
            tr.gettext(
                "{year} is official ({source}): {holidays} holidays, {workdays} make-up workdays.",
                year=year,
                source=status.source,
                holidays=status.holidays,
                workdays=status.workdays,
            )
        )
    else:
        click.echo(
            tr.gettext(
                "{year} is NOT official: no notice loaded, so only Monday to Friday count as "
                "working days. Import the State Council notice with `govbot calendar import`.",
                year=year,
            )
        )


def _registers(services: Services) -> RegisterService:
    """The composition root's RegisterService."""
    return services.registers


@main.group(help="Approval template commands.")
def templates() -> None:
    """``govbot templates``."""


@templates.command(
    "load", help="Check every YAML template of a directory, then activate them all (or none)."
)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def templates_load(directory: Path) -> None:
    """``govbot templates load DIR``."""
    from bot.approvals.catalog import LoadReport
    from bot.approvals.templates import TemplateError, TemplateErrors

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> LoadReport | TemplateError:
        try:
            return await services.approvals.catalog.load(directory, actor_id=None)
        except TemplateError as exc:
            return exc

    result = _run(_with_services(settings, go))
    if isinstance(result, TemplateError):
        errors = result.errors if isinstance(result, TemplateErrors) else [result]
        for error in errors:
            where = error.source if error.line is None else f"{error.source}:{error.line}"
            click.echo(f"{where}: {error.reason}", err=True)
        click.echo(
            tr.gettext("Nothing was changed: the templates in force stay active."), err=True
        )
        sys.exit(1)
    click.echo(
        tr.gettext(
            "loaded {n}: {keys}", n=len(result.loaded), keys=", ".join(result.loaded) or "-"
        )
    )
    click.echo(
        tr.gettext(
            "unchanged {n}: {keys}",
            n=len(result.unchanged),
            keys=", ".join(result.unchanged) or "-",
        )
    )
    click.echo(tr.gettext("retired {n}", n=result.retired))


@templates.command("list", help="List the active templates: key, version, name, kind, route.")
def templates_list() -> None:
    """``govbot templates list``."""
    from bot.approvals.registers import kind_label

    settings = _settings()
    tr = _tr()
    infos = _run(_with_services(settings, lambda s: _registers(s).templates(locale=tr.locale)))
    if not infos:
        click.echo(tr.gettext("No active templates: load them with `govbot templates load DIR`."))
        return
    for info in infos:
        click.echo(
            tr.gettext(
                "{key} v{version} {name} ({kind}): {route}",
                key=info.key,
                version=info.version,
                name=info.name,
                kind=kind_label(info.kind, tr),
                route=" → ".join(info.route),
            )
        )


@main.group(help="Approval requests: the registers, one request's record, overdue items.")
def approvals() -> None:
    """``govbot approvals``."""


@approvals.command(
    "register", help="Export the outgoing (发文) or incoming (收文) register as CSV or XLSX."
)
@click.argument("kind", type=click.Choice(["outgoing", "incoming"]))
@click.option("--year", type=click.IntRange(1900, 2999), default=None, help="Only this year.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default=None,
    help="Default: from the suffix of --out, else csv.",
)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def approvals_register(kind: str, year: int | None, fmt: str | None, out: Path) -> None:
    """``govbot approvals register outgoing|incoming --out FILE``."""
    from bot.approvals.registers import REGISTER_NAMES, to_csv, to_xlsx

    settings = _settings()
    tr = _tr()
    fmt = fmt or ("xlsx" if out.suffix.casefold() == ".xlsx" else "csv")
    rows = _run(
        _with_services(settings, lambda s: _registers(s).rows(kind, year=year, locale=tr.locale))
    )
    data = (
        to_xlsx(rows, tr.locale, kind=kind)
        if fmt == "xlsx"
        else to_csv(rows, tr.locale, kind=kind)
    )
    try:
        out.write_bytes(data)
    except OSError as exc:
        _fail(tr.gettext("cannot write {file}: {error}", file=str(out), error=exc.strerror))
    click.echo(
        tr.gettext(
            "{register}: {n} entries written to {file}",
            register=tr.gettext(REGISTER_NAMES[kind]),
            n=len(rows),
            file=str(out),
        )
    )


NODE_STATUS_LABELS = {
    "pending": N_("not reached"),
    "active": N_("in progress"),
    "passed": N_("passed"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
}
SLOT_STATUS_LABELS = {
    "waiting": N_("waiting"),
    "open": N_("to act"),
    "suspended": N_("waiting for added signers"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "auto_passed": N_("passed automatically"),
    "closed": N_("not needed"),
}


@approvals.command(
    "show", help="One request by number or 发文字号: steps, timeline and audit trail."
)
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def approvals_show(number: str, as_json: bool) -> None:
    """``govbot approvals show NUMBER``."""
    from bot.approvals.engine import STATUS_LABELS
    from bot.approvals.registers import (
        InstanceRecord,
        RequestNotFoundError,
        kind_label,
        move_label,
    )

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> InstanceRecord | None:
        try:
            return await _registers(services).record(number, locale=tr.locale)
        except RequestNotFoundError:
            return None

    record = _run(_with_services(settings, go))
    if record is None:
        _fail(tr.gettext("no request numbered {number}", number=number))
        return
    if as_json:
        click.echo(json.dumps(record.to_json(), ensure_ascii=False, indent=2))
        return

    def when(iso: str | None) -> str:
        from datetime import datetime

        return tr.when(datetime.fromisoformat(iso)) if iso else ""

    def acting(name: str | None, for_name: str | None) -> str:
        if name is None:
            return tr.gettext("(system)")
        return tr.gettext("{by} (for {name})", by=name, name=for_name) if for_name else name

    echo = click.echo
    echo(
        tr.gettext(
            "{number} {template} v{version} ({kind})",
            number=record.number,
            template=record.template_name,
            version=record.template_version,
            kind=kind_label(record.kind, tr),
        )
    )
    if record.doc_no:
        echo(tr.gettext("Document number: {doc_no}", doc_no=record.doc_no))
    echo(
        tr.gettext(
            "Submitted by {name} ({department}) at {at}",
            name=record.submitter,
            department=record.department,
            at=tr.when(record.created_at),
        )
    )
    echo(tr.gettext("Status: {status}", status=tr.gettext(STATUS_LABELS[record.status])))
    echo(tr.gettext("Content hash: {hash}", hash=record.content_hash))
    echo("")
    for label, value in record.fields:
        echo(f"  {label}: {value or '-'}")
    echo("")
    echo(tr.gettext("Steps:"))
    for step in record.steps:
        echo(f"  {step.name} [{tr.gettext(NODE_STATUS_LABELS.get(step.status, step.status))}]")
        for p in step.people:
            line = f"    {p.name}: {tr.gettext(SLOT_STATUS_LABELS.get(p.status, p.status))}"
            if p.decided_by:
                line += " · " + acting(p.decided_by, p.on_behalf_of)
            if p.at and p.status in ("approved", "rejected"):
                line += " · " + when(p.at)
            if p.comment:
                line += f" · “{p.comment}”"
            echo(line)
    echo("")
    echo(tr.gettext("Timeline:"))
    for entry in record.timeline:
        line = f"  {when(entry.at)} {acting(entry.actor, entry.on_behalf_of)} "
        line += move_label(entry.move, tr)
        if entry.step:
            line += f" [{entry.step}]"
        if entry.people:
            line += " → " + "、".join(entry.people)
        if entry.comment:
            line += f" “{entry.comment}”"
        echo(line)
    echo("")
    echo(tr.gettext("Audit trail:"))
    for a in record.audit:
        line = f"  #{a.seq} {tr.when(a.at)} {acting(a.actor, a.on_behalf_of)} {a.action}"
        if a.content_hash:
            line += " " + tr.gettext("content hash {hash}", hash=a.content_hash)
        echo(line)


@approvals.command("overdue", help="督办: open 发文 and 收文 past their deadline, by department.")
def approvals_overdue() -> None:
    """``govbot approvals overdue``."""
    settings = _settings()
    tr = _tr()
    groups = _run(
        _with_services(
            settings, lambda s: _registers(s).overdue(now=s.runtime.clock(), locale=tr.locale)
        )
    )
    if not groups:
        click.echo(tr.gettext("Nothing is overdue."))
        return
    for department, rows in groups.items():
        click.echo(tr.gettext("{department} ({n})", department=department, n=len(rows)))
        for row in rows:
            dues = [tr.when(row.due_at, "short")] if row.due_at else []
            if row.deadline is not None:
                dues.append(row.deadline.isoformat())
            due = ", ".join(dues)
            click.echo(
                "  "
                + tr.gettext(
                    "{number} {title} · {step} · {holder} · due {due}",
                    number=row.doc_no or row.number,
                    title=row.title,
                    step=row.current_step or "-",
                    holder=row.holder or "-",
                    due=due or "-",
                )
            )


@main.group("group", help="Staff groups: named lists of people an audience names as group:NAME.")
def staff_group() -> None:
    """``govbot group``."""


@staff_group.command(
    "set",
    help="Make NAME exactly the people AUDIENCE names (dept:…,role:…,staff:…,group:…).",
)
@click.argument("name")
@click.argument("audience")
def staff_group_set(name: str, audience: str) -> None:
    """``govbot group set NAME AUDIENCE``."""
    from bot.surveys.groups import GroupNameError
    from bot.surveys.publishing import AudienceError
    from handlers.render.surveys import AUDIENCE_PROBLEMS

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> Any:
        try:
            return await services.staff_groups.set(name, audience)
        except (AudienceError, GroupNameError) as error:
            return error

    result = _run(_with_services(settings, go))
    if isinstance(result, GroupNameError):
        _fail(
            tr.gettext(
                "“{name}” cannot name a group: at most 60 characters, "
                "no spaces, commas or colons.",
                name=name,
            )
        )
        return
    if isinstance(result, AudienceError):
        _refuse(tr, result.problems, AUDIENCE_PROBLEMS)
    click.echo(
        tr.ngettext(
            "Group {name}: {n} person.",
            "Group {name}: {n} people.",
            result.members,
            name=result.name,
        )
    )


@staff_group.command("list", help="Every group and how many people it lists.")
def staff_group_list() -> None:
    """``govbot group list``."""
    settings = _settings()
    tr = _tr()
    rows = _run(_with_services(settings, lambda s: s.staff_groups.list()))
    if not rows:
        click.echo(tr.gettext("No groups yet: govbot group set NAME AUDIENCE."))
    for row in rows:
        click.echo(f"{row.name}\t{row.members}")


@staff_group.command("remove", help="Remove a group (what was sent to it stays sent).")
@click.argument("name")
def staff_group_remove(name: str) -> None:
    """``govbot group remove NAME``."""
    settings = _settings()
    tr = _tr()
    from handlers.render.surveys import AUDIENCE_PROBLEMS

    if not _run(_with_services(settings, lambda s: s.staff_groups.remove(name))):
        _fail(tr.gettext(AUDIENCE_PROBLEMS["group"], what=name))
        return
    click.echo(tr.gettext("Group {name} removed.", name=name))


@main.group(help="The support desk groups: which forum group takes which tickets.")
def desk() -> None:
    """``govbot desk``."""


# A group's id is negative: ``-1001234`` must be read as the argument, not as options.
_CHAT_ID_ARG = {"ignore_unknown_options": True}


@desk.command(
    "set",
    help="Make a forum group a desk (no --category: the default desk).",
    context_settings=_CHAT_ID_ARG,
)
@click.argument("chat_id", type=int)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="A category this group takes (account, documents, expenses, devices, other).",
)
def desk_set(chat_id: int, categories: tuple[str, ...]) -> None:
    """``govbot desk set CHAT_ID [--category KEY]…``."""
    from bot.support.routing import CATEGORY_KEYS

    settings = _settings()
    tr = _tr()
    routed = _run(
        _with_services(settings, lambda s: s.support_routing.set_from_cli(chat_id, categories))
    )
    if routed.outcome == "usage":
        _fail(
            tr.gettext(
                "Unknown category; the categories are: {keys}.", keys=", ".join(CATEGORY_KEYS)
            )
        )
        return
    click.echo(
        tr.gettext(
            "Desk group {chat} now takes: {categories}.",
            chat=chat_id,
            categories=", ".join(routed.categories),
        )
    )


@desk.command(
    "unset",
    help="The group is no longer a desk; its open tickets move on.",
    context_settings=_CHAT_ID_ARG,
)
@click.argument("chat_id", type=int)
def desk_unset(chat_id: int) -> None:
    """``govbot desk unset CHAT_ID``."""
    settings = _settings()
    tr = _tr()
    routed = _run(_with_services(settings, lambda s: s.support_routing.unset_from_cli(chat_id)))
    click.echo(
        tr.gettext(
            "Desk group {chat} removed ({categories}); {moved} open tickets moved.",
            chat=chat_id,
            categories=", ".join(routed.categories) or "-",
            moved=routed.moved,
        )
    )


@desk.command("list", help="Where new tickets go, category by category.")
def desk_list() -> None:
    """``govbot desk list``."""
    settings = _settings()
    tr = _tr()
    rows = _run(_with_services(settings, lambda s: s.support_routing.table()))
    for category, chat_id, title in rows:
        click.echo(f"{category}\t{chat_id}\t{title}")
    if not any(category == "*" for category, _, _ in rows):
        fallback = settings.desk_chat_id
        click.echo(
            f"*\t{fallback}\tGOVBOT_DESK_CHAT_ID"
            if fallback
            else tr.gettext("No default desk group: agents are told in private chat.")
        )


@main.group(help="Support tickets: their record and the files kept with them.")
def ticket() -> None:
    """``govbot ticket``."""


@ticket.command("files", help="Write a ticket's archived files to a folder; list the rest.")
@click.argument("number")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The folder to write them to (made if missing).",
)
def ticket_files(number: str, out: Path) -> None:
    """``govbot ticket files T2026-000123 --out DIR``: each archived file as ``<n>-<name>``."""
    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> list[tuple[str, bytes | None, str | None]] | None:
        async with services.runtime.detached_uow() as uow:
            found = await uow.support.ticket_by_number(number.strip().upper())
            if found is None or found.id is None:
                return None
            return [
                (a.file_name or f"{a.kind}-{a.file_unique_id or a.id}", a.data, a.not_archived)
                for a in await uow.support.attachments(found.id)
            ]

    files = _run(_with_services(settings, go))
    if files is None:
        _fail(tr.gettext("There is no ticket {number}.", number=number))
        return
    out.mkdir(parents=True, exist_ok=True)
    for n, (name, data, missing) in enumerate(files, start=1):
        safe = Path(name).name or "file"  # never a path out of the folder
        if data is None:
            click.echo(tr.gettext("{name}: not archived ({reason})", name=safe, reason=missing))
            continue
        target = out / f"{n:03d}-{safe}"
        target.write_bytes(data)
        click.echo(str(target))


@main.group(help="The support desk's on-call roster (who is paged when an SLA is breached).")
def oncall() -> None:
    """``govbot oncall``."""


@oncall.command("import", help="Add the shifts of a CSV/XLSX file: level, person, start, end.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def oncall_import(file: Path) -> None:
    """``govbot oncall import FILE``: all rows or none."""
    from bot.errors import ImportFileError
    from bot.spreadsheet import read_table
    from bot.support.oncall import SHIFT_TABLE
    from handlers.render.support import ROSTER_OUTCOMES

    settings = _settings()
    tr = _tr()
    data = file.read_bytes()
    try:
        read_table(data, file.name, SHIFT_TABLE)  # unreadable: said before the database opens
    except ImportFileError as exc:
        _fail(tr.gettext(_file_error(exc.reason)))
        return
    result = _run(
        _with_services(
            settings, lambda s: s.support_oncall.import_file(data, file.name, tg_id=None)
        )
    )
    if result.problems:
        click.echo(tr.gettext(ROSTER_OUTCOMES["import_failed"]), err=True)
        for line, code in result.problems:
            reason = tr.gettext(ROSTER_OUTCOMES.get(code, ROSTER_OUTCOMES["usage"]), person="")
            click.echo(tr.gettext("• row {line}: {reason}", line=line, reason=reason), err=True)
        sys.exit(1)
    click.echo(tr.gettext(ROSTER_OUTCOMES["imported"], added=result.added))


@oncall.command("list", help="The shifts not over yet, who is on call now marked.")
def oncall_list() -> None:
    """``govbot oncall list``."""
    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> list[tuple[str, str, str, str, bool]]:
        now = services.runtime.clock()
        async with services.runtime.detached_uow() as uow:
            shifts = await uow.support.shifts(ending_after=now, limit=1000)
            people = await uow.people.many(s.staff_id for s in shifts)
            return [
                (
                    f"#{s.id} L{s.level}",
                    people[s.staff_id].name if s.staff_id in people else "?",
                    tr.when(s.starts_at, "short"),
                    tr.when(s.ends_at, "short"),
                    s.starts_at <= now < s.ends_at,
                )
                for s in shifts
            ]

    for shift, name, start, end, now in _run(_with_services(settings, go)):
        click.echo(f"{'*' if now else ' '} {shift} {name} {start} – {end}")


@main.group(help="Surveys: publish one to an audience, list them.")
def survey() -> None:
    """``govbot survey``."""


def _local_time(text: str | None, settings: Settings) -> datetime | None:
    """ "YYYY-MM-DD HH:MM" (or a date: 23:59) in the deployment's time zone, as UTC."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) <= 10:
            moment = datetime.combine(date.fromisoformat(value), time(23, 59))
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(_tr().gettext("{text} is not a date and time (YYYY-MM-DD HH:MM)", text=value))
        raise  # unreachable: _fail exits
    return moment.replace(tzinfo=settings.tz).astimezone(UTC)


@survey.command(
    "publish",
    help="Open a survey (YAML, or XLSX: see `survey template`) for an audience: all, or "
    "dept:NAME,role:ROLE,staff:NO.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "audience", required=True, help="all | dept:办公室,role:trainer,staff:E0001")
@click.option("--opens", default=None, help="YYYY-MM-DD HH:MM (local); default now")
@click.option("--closes", default=None, help="YYYY-MM-DD [HH:MM] (local); default never")
def survey_publish(file: Path, audience: str, opens: str | None, closes: str | None) -> None:
    """``govbot survey publish FILE --to AUDIENCE``: all checked before anything is sent."""
    from bot.surveys.definitions import SurveyError
    from bot.surveys.publishing import AudienceError, parse_audience
    from bot.surveys.sheets import MAX_BYTES, is_xlsx, workbook_to_yaml
    from handlers.render.surveys import AUDIENCE_PROBLEMS

    settings = _settings()
    tr = _tr()
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if is_xlsx(data, file.name):
            text = workbook_to_yaml(data, source=file.name)
        else:
            text = data.decode("utf-8-sig")
    except SurveyError as error:
        _fail(str(error), code=1)
        return
    except (OSError, UnicodeDecodeError):
        _fail(tr.gettext(_file_error("unreadable")))
        return

    def problems(error: AudienceError) -> None:
        _refuse(tr, error.problems, AUDIENCE_PROBLEMS)

    try:
        target = parse_audience(audience)
    except AudienceError as error:
        problems(error)
        return
    opens_at, closes_at = _local_time(opens, settings), _local_time(closes, settings)

    async def go(services: Services) -> Any:
        try:
            return await services.survey_publishing.publish(
                text=text,
                source=file.name,
                audience=target,
                opens_at=opens_at,
                closes_at=closes_at,
            )
        except (SurveyError, AudienceError) as error:
            return error

    result = _run(_with_services(settings, go))
    if isinstance(result, SurveyError):
        _fail(str(result), code=1)
    if isinstance(result, AudienceError):
        problems(result)
    click.echo(
        tr.gettext(
            "survey {id} ({key}) is open: {invited} invited, {messaged} sent an invitation",
            id=result.survey_id,
            key=result.key,
            invited=result.invited,
            messaged=result.messaged,
        )
    )
    if result.unreachable:
        click.echo(
            tr.gettext(
                "not on Telegram yet (no invitation message): {names}",
                names="、".join(result.unreachable),
            )
        )


@survey.command(
    "template",
    help="Write a survey as an XLSX workbook to fill in (sheets survey and questions; "
    "docs/surveys.md): a shipped template (--from, default pilot_feedback) or a YAML file.",
)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "source", default="pilot_feedback", help="a shipped key or a YAML file")
def survey_template(out: Path, source: str) -> None:
    """``govbot survey template OUT.xlsx [--from KEY|FILE.yaml]``."""
    from bot.surveys.definitions import SurveyError, load_shipped, parse_survey
    from bot.surveys.sheets import survey_workbook

    tr = _tr()
    shipped = load_shipped()
    try:
        if source in shipped:
            definition = shipped[source]
        else:
            path = Path(source)
            definition = parse_survey(path.read_text(encoding="utf-8-sig"), source=path.name)
    except SurveyError as error:
        _fail(str(error), code=1)
        return
    except (OSError, UnicodeDecodeError):
        _fail(
            tr.gettext(
                "{source} is neither a shipped template ({keys}) nor a readable YAML file",
                source=source,
                keys=", ".join(sorted(shipped)),
            )
        )
        return
    out.write_bytes(survey_workbook(definition))
    click.echo(tr.gettext("wrote {path}", path=out))


@survey.command(
    "results",
    help="A survey's results; --csv / --xlsx write every response, --charts DIR a PNG chart "
    "per question.",
)
@click.argument("survey_id", type=int)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--charts", "charts_dir", type=click.Path(file_okay=False, path_type=Path), default=None
)
def survey_results(
    survey_id: int, csv_path: Path | None, xlsx_path: Path | None, charts_dir: Path | None
) -> None:
    """``govbot survey results ID``: the figures (small groups of an anonymous survey hidden)."""
    from bot.surveys.results import gather, to_csv, to_xlsx

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> Any:
        async with services.runtime.detached_uow() as uow:
            return await gather(uow, survey_id)

    gathered = _run(_with_services(settings, go))
    if gathered is None:
        _fail(tr.gettext("there is no survey {id}", id=survey_id), code=1)
        return
    results, rows = gathered
    click.echo(
        tr.gettext(
            "{title}: {responses} responses of {invited} invited",
            title=results.title,
            responses=results.responses,
            invited=results.invited,
        )
    )
    for rate in results.departments:
        done = tr.gettext("<5, hidden") if rate.finished is None else str(rate.finished)
        click.echo(f"  {rate.department}: {done}/{rate.invited}")
    for question in results.questions:
        click.echo(f"- {question.text} ({question.answered})")
        if question.hidden:
            click.echo("    " + tr.gettext("<5, hidden"))
            continue
        for label, count in question.counts:
            click.echo(f"    {label}: {count}")
        if question.nps is not None:
            click.echo("    NPS: " + str(question.nps))
        elif question.mean is not None:
            click.echo("    " + tr.gettext("mean {value}", value=question.mean))
        for text in question.texts:
            click.echo(f"    · {text}")
    if csv_path is not None:
        csv_path.write_bytes(to_csv(rows))
    if xlsx_path is not None:
        xlsx_path.write_bytes(to_xlsx(rows))
    if charts_dir is not None:
        from bot.surveys.charts import charts

        charts_dir.mkdir(parents=True, exist_ok=True)
        for number, (question, png) in enumerate(charts(results), start=1):
            path = charts_dir / f"{survey_id}-{number:02d}-{question.key}.png"
            path.write_bytes(png)
            click.echo(tr.gettext("wrote {path}", path=path))


@survey.command("list", help="The surveys, newest first, with how many have answered.")
def survey_list() -> None:
    """``govbot survey list``."""
    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> list[tuple[int, str, str, bool, int, int]]:
        async with services.runtime.detached_uow() as uow:
            out = []
            for row in await uow.surveys.all():
                counts = await uow.surveys.completion_by_department(row.id or 0)
                done = sum(d for d, _ in counts.values())
                invited = sum(t for _, t in counts.values())
                out.append((row.id or 0, row.key, row.status, row.anonymous, done, invited))
            return out

    for survey_id, key, status, anonymous, done, invited in _run(_with_services(settings, go)):
        flag = tr.gettext("anonymous") if anonymous else ""
        click.echo(
            tr.gettext(
                "#{id} {key} {status} {flag} answered {done}/{invited}",
                id=survey_id,
                key=key,
                status=status,
                flag=flag,
                done=done,
                invited=invited,
            )
        )


@main.group(
    help="Security quizzes: open a campaign for an audience, its results, the quizzes shipped. "
    "Banks and quizzes are YAML in bot/quizzes/shipped (docs/quizzes.md)."
)
def quiz() -> None:
    """``govbot quiz``."""


@quiz.command(
    "campaign",
    help="Send a quiz to an audience: all, or dept:NAME,role:ROLE,staff:NO. With --every a new "
    "round opens each quarter or month (reminders go to those who have not passed).",
)
@click.argument("quiz_key")
@click.option("--to", "audience", required=True, help="all | dept:办公室,role:trainer,staff:E0001")
@click.option("--closes", default=None, help="YYYY-MM-DD [HH:MM] (local); default never")
@click.option(
    "--every", type=click.Choice(["quarter", "month"]), default=None, help="repeat the campaign"
)
def quiz_campaign(quiz_key: str, audience: str, closes: str | None, every: str | None) -> None:
    """``govbot quiz campaign KEY --to AUDIENCE``: all checked before anything is sent."""
    from bot.quizzes.campaigns import CampaignError
    from bot.surveys.publishing import AudienceError, parse_audience
    from handlers.render.quizzes import CAMPAIGN_PROBLEMS
    from handlers.render.surveys import AUDIENCE_PROBLEMS

    settings = _settings()
    tr = _tr()

    def problems(error: AudienceError | CampaignError) -> None:
        table = AUDIENCE_PROBLEMS if isinstance(error, AudienceError) else CAMPAIGN_PROBLEMS
        _refuse(tr, error.problems, table)

    try:
        target = parse_audience(audience)
    except AudienceError as error:
        problems(error)
        return
    closes_at = _local_time(closes, settings)

    async def go(services: Services) -> Any:
        try:
            return await services.quiz_campaigns.open(
                quiz_key=quiz_key, audience=target, closes_at=closes_at, every=every
            )
        except (CampaignError, AudienceError) as error:
            return error

    result = _run(_with_services(settings, go))
    if isinstance(result, CampaignError | AudienceError):
        problems(result)
    click.echo(
        tr.gettext(
            "quiz campaign {id} ({key}) is open: {invited} invited, {messaged} sent an invitation",
            id=result.campaign_id,
            key=result.quiz_key,
            invited=result.invited,
            messaged=result.messaged,
        )
    )
    if result.unreachable:
        click.echo(
            tr.gettext(
                "not on Telegram yet (no invitation message): {names}",
                names="、".join(result.unreachable),
            )
        )


@quiz.command(
    "results",
    help="A campaign's pass rates by department and most-missed questions; --csv / --xlsx "
    "write one row per person invited (name, best score, passed, certificate).",
)
@click.argument("campaign_id", type=int)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def quiz_results(campaign_id: int, csv_path: Path | None, xlsx_path: Path | None) -> None:
    """``govbot quiz results ID``."""
    from bot.quizzes.results import gather, to_csv, to_xlsx

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> Any:
        async with services.runtime.detached_uow() as uow:
            return await gather(uow, campaign_id)

    results = _run(_with_services(settings, go))
    if results is None:
        _fail(tr.gettext("there is no quiz campaign {id}", id=campaign_id), code=1)
        return
    click.echo(
        tr.gettext(
            "{title}: {passed} passed, {participants} took part, {invited} invited",
            title=results.title,
            passed=results.passed,
            participants=results.participants,
            invited=results.invited,
        )
    )
    for rate in results.departments:
        click.echo(
            f"  {rate.department}: {rate.passed}/{rate.participants}/{rate.invited} {rate.rate}%"
        )
    if results.missed:
        click.echo(tr.gettext("missed most:"))
    for miss in results.missed:
        click.echo(f"  {miss.rate}% ({miss.missed}/{miss.asked}) {miss.text}")
    if csv_path is not None:
        csv_path.write_bytes(to_csv(results.rows))
    if xlsx_path is not None:
        xlsx_path.write_bytes(to_xlsx(results.rows))


@quiz.command("list", help="The shipped quizzes, and the campaigns, newest first.")
def quiz_list() -> None:
    """``govbot quiz list``."""
    from bot.quizzes.definitions import load_shipped

    settings = _settings()
    tr = _tr()
    library = load_shipped()
    for key, item in sorted(library.quizzes.items()):
        click.echo(
            tr.gettext(
                "quiz {key}: {title}, {draw} of {pool} questions, pass mark {mark}%",
                key=key,
                title=item.title.zh_CN,
                draw=item.draw,
                pool=sum(len(library.banks[t].questions) for t in item.topics),
                mark=item.pass_mark,
            )
        )

    async def go(services: Services) -> list[tuple[int, str, str, int, int]]:
        async with services.runtime.detached_uow() as uow:
            out = []
            for row in await uow.quizzes.all():
                invited = await uow.quizzes.invited(row.id or 0)
                passed = sum(1 for _, i in invited if i.passed)
                out.append((row.id or 0, row.quiz_key, row.every or "", passed, len(invited)))
            return out

    for campaign_id, key, every, passed, invited in _run(_with_services(settings, go)):
        click.echo(
            tr.gettext(
                "#{id} {key} {every} passed {passed}/{invited}",
                id=campaign_id,
                key=key,
                every=every,
                passed=passed,
                invited=invited,
            )
        )


@quiz.command(
    "check",
    help="Check bank and quiz files (YAML) with the shipped banks: every mistake with its "
    "file and line, Telegram's limits included (question 300, option 100, explanation 200 "
    "characters, 2-10 options).",
)
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def quiz_check(files: tuple[Path, ...]) -> None:
    """``govbot quiz check FILE...``: a file with ``topic:`` is a bank, else a quiz."""
    from bot.quizzes.definitions import QuizError, load_library, shipped_dir

    tr = _tr()
    root = shipped_dir()
    banks = {p.name: p for p in (root / "banks").glob("*.yaml")}
    quizzes = {p.name: p for p in (root / "quizzes").glob("*.yaml")}
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        is_bank = any(line.startswith("topic:") for line in text.splitlines())
        (banks if is_bank else quizzes)[file.name] = file
    try:
        library = load_library(banks.values(), quizzes.values())
    except QuizError as error:
        _fail(str(error), code=1)
        return
    click.echo(
        tr.gettext(
            "{banks} banks and {quizzes} quizzes are valid",
            banks=len(library.banks),
            quizzes=len(library.quizzes),
        )
    )


@main.group(
    help="Training courses: publish one to an audience with a due date, list them, see "
    "completion by department."
)
def course() -> None:
    """``govbot course``."""


@course.command(
    "publish",
    help="Assign a course (YAML; lesson files beside it) to an audience: all, or "
    "dept:NAME,role:ROLE,staff:NO, due at the end of --due (local).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "audience", required=True, help="all | dept:办公室,role:trainer,staff:E0001")
@click.option("--due", "due", required=True, help="YYYY-MM-DD (local): due at the end of that day")
def course_publish(file: Path, audience: str, due: str) -> None:
    """``govbot course publish FILE --to AUDIENCE --due DATE``: all checked first."""
    from bot.courses.definitions import CourseError
    from bot.surveys.publishing import AudienceError, parse_audience
    from handlers.render.courses import COURSE_PROBLEMS

    settings = _settings()
    tr = _tr()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        _fail(tr.gettext(_file_error("unreadable")))
        return

    def problems(error: AudienceError) -> None:
        _refuse(tr, error.problems, COURSE_PROBLEMS)

    try:
        target = parse_audience(audience)
        due_on = date.fromisoformat(due.strip())
    except AudienceError as error:
        problems(error)
        return
    except ValueError:
        problems(AudienceError([("date", due)]))
        return

    base_dir = file.resolve().parent

    async def go(services: Services) -> Any:
        try:
            return await services.course_publishing.publish(
                text=text,
                source=file.name,
                audience=target,
                due_on=due_on,
                base_dir=base_dir,
            )
        except (CourseError, AudienceError) as error:
            return error

    result = _run(_with_services(settings, go))
    if isinstance(result, CourseError):
        _fail(str(result), code=1)
    if isinstance(result, AudienceError):
        problems(result)
    click.echo(
        tr.gettext(
            "course {id} ({key}) is assigned: {assigned} people, {messaged} sent an invitation",
            id=result.course_id,
            key=result.key,
            assigned=result.assigned,
            messaged=result.messaged,
        )
    )
    if result.unreachable:
        click.echo(
            tr.gettext(
                "not on Telegram yet (no invitation message): {names}",
                names="、".join(result.unreachable),
            )
        )


@course.command("list", help="The courses, newest first, with how many have completed them.")
def course_list() -> None:
    """``govbot course list``."""
    from bot.courses.services import gather

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> list[tuple[int, str, str, int, int, int]]:
        now = services.runtime.clock()
        async with services.runtime.detached_uow() as uow:
            out = []
            for row in await uow.courses.all():
                found = await gather(uow, row.id or 0, now=now)
                total = found.report.total if found else None
                out.append(
                    (
                        row.id or 0,
                        row.key,
                        tr.day(row.due_at, "medium") if row.due_at else "-",
                        total.completed if total else 0,
                        total.assigned if total else 0,
                        total.overdue if total else 0,
                    )
                )
            return out

    for course_id, key, due, done, assigned, overdue in _run(_with_services(settings, go)):
        click.echo(
            tr.gettext(
                "#{id} {key} due {due}: completed {done}/{assigned}, {overdue} overdue",
                id=course_id,
                key=key,
                due=due,
                done=done,
                assigned=assigned,
                overdue=overdue,
            )
        )


@course.command("progress", help="A course's completion by department; --csv writes it for Excel.")
@click.argument("course_id", type=int)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def course_progress(course_id: int, csv_path: Path | None) -> None:
    """``govbot course progress ID [--csv F]``: assigned, started, completed, overdue, %."""
    from bot.courses.services import gather, to_csv

    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> Any:
        async with services.runtime.detached_uow() as uow:
            return await gather(uow, course_id, now=services.runtime.clock())

    found = _run(_with_services(settings, go))
    if found is None:
        _fail(tr.gettext("there is no course {id}", id=course_id), code=1)
        return
    click.echo(found.title)
    for row in (*found.report.rows, found.report.total):
        name = tr.gettext("Total") if row is found.report.total else row.department
        click.echo(
            tr.gettext(
                "  {department}: completed {completed}/{assigned} ({percent}%), started "
                "{started}, overdue {overdue}",
                department=name,
                completed=row.completed,
                assigned=row.assigned,
                percent=row.percent,
                started=row.started,
                overdue=row.overdue,
            )
        )
    if csv_path is not None:
        csv_path.write_bytes(to_csv(found))


@main.group(
    help=(
        "Announcements: send one to an audience (optionally asking each person to tap "
        "✅ 已阅), list them, see who has acknowledged."
    )
)
def announce() -> None:
    """``govbot announce``."""


@announce.command(
    "send",
    help=(
        "Send an announcement now. The body is HTML as Telegram takes it (<b>, <i>, <a href>); "
        "--ack asks everyone to tap ✅ 已阅, --ack-by sets the deadline (local time). "
        "--attach sends a photo or document the bot already has, by its Telegram file id."
    ),
)
@click.option("--to", "audience", required=True, help="all | dept:办公室,role:trainer,staff:E0001")
@click.option("--title", required=True, help="the title, one line")
@click.option("--body", default=None, help="the text (HTML)")
@click.option(
    "--body-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the text (HTML) from a UTF-8 file",
)
@click.option("--ack", is_flag=True, help="ask each recipient to acknowledge (已阅)")
@click.option("--ack-by", default=None, help="YYYY-MM-DD [HH:MM] (local): the deadline")
@click.option("--attach", "attach_id", default=None, help="a Telegram file id to attach")
@click.option(
    "--attach-kind",
    type=click.Choice(["document", "photo"]),
    default="document",
    help="what the attached file is",
)
def announce_send(
    audience: str,
    title: str,
    body: str | None,
    body_file: Path | None,
    ack: bool,
    ack_by: str | None,
    attach_id: str | None,
    attach_kind: str,
) -> None:
    """``govbot announce send --to AUDIENCE --title T --body TEXT``: checked, then sent."""
    from bot.announcements.model import AnnouncementError
    from bot.announcements.services import Attachment
    from bot.surveys.publishing import AudienceError
    from handlers.render.announcements import PROBLEMS
    from handlers.render.surveys import AUDIENCE_PROBLEMS

    settings = _settings()
    tr = _tr()
    if (body is None) == (body_file is None):
        _fail(tr.gettext("give the text with either --body or --body-file"))
    if body_file is not None:
        try:
            body = body_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            _fail(tr.gettext(_file_error("unreadable")))
    deadline = _local_time(ack_by, settings)
    attachment = Attachment(attach_kind, attach_id) if attach_id else None

    async def go(services: Services) -> Any:
        try:
            return await services.announcements.announce(
                title=title,
                body_html=body or "",
                audience=audience,
                ack_required=ack or deadline is not None,
                ack_by=deadline,
                attachment=attachment,
            )
        except (AnnouncementError, AudienceError) as error:
            return error

    result = _run(_with_services(settings, go))
    if isinstance(result, AudienceError):
        _refuse(tr, result.problems, AUDIENCE_PROBLEMS)
    if isinstance(result, AnnouncementError):
        _fail(tr.gettext(PROBLEMS[result.code], **result.facts), code=1)
    click.echo(
        tr.gettext(
            "announcement {id} sent: {recipients} recipients, {messaged} of them on Telegram",
            id=result.announcement_id,
            recipients=result.recipients,
            messaged=result.messaged,
        )
    )
    if result.unreachable:
        click.echo(
            tr.gettext(
                "not on Telegram yet (not sent): {names}", names="、".join(result.unreachable)
            )
        )


@announce.command("list", help="The announcements sent, newest first, with their counts.")
def announce_list() -> None:
    """``govbot announce list``."""
    settings = _settings()
    tr = _tr()

    async def go(services: Services) -> Any:
        return await services.announcements.sent_list()

    for row, total in _run(_with_services(settings, go)):
        if row.ack_required:
            line = tr.gettext(
                "#{id} {sent} {title}: {recipients} recipients, {delivered} delivered, "
                "{acked} acknowledged",
                id=row.id,
                sent=tr.when(row.sent_at, "short") if row.sent_at else "",
                title=row.title,
                recipients=total.recipients,
                delivered=total.delivered,
                acked=total.acknowledged,
            )
        else:
            line = tr.gettext(
                "#{id} {sent} {title}: {recipients} recipients, {delivered} delivered",
                id=row.id,
                sent=tr.when(row.sent_at, "short") if row.sent_at else "",
                title=row.title,
                recipients=total.recipients,
                delivered=total.delivered,
            )
        click.echo(line)


@announce.command(
    "status",
    help=(
        "Per department: recipients, delivered (Telegram accepted the message), acknowledged "
        "(tapped ✅ 已阅), not yet; --csv writes one row per person."
    ),
)
@click.argument("announcement_id", type=int)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def announce_status(announcement_id: int, csv_path: Path | None) -> None:
    """``govbot announce status ID [--csv F]``."""
    from handlers.render.announcements import EXPORT_HEADERS

    settings = _settings()
    tr = _tr()
    headers = [tr.gettext(h) for h in EXPORT_HEADERS]

    async def go(services: Services) -> Any:
        status = await services.announcements.status(announcement_id)
        data = (
            await services.announcements.export_csv(announcement_id, headers=headers)
            if csv_path is not None and status is not None
            else None
        )
        return status, data

    status, data = _run(_with_services(settings, go))
    if status is None:
        _fail(tr.gettext("there is no announcement {id}", id=announcement_id), code=1)
        return
    click.echo(f"#{status.announcement_id} {status.title}")
    for c in [*status.departments, status.total]:
        name = c.department or ("—" if c is not status.total else tr.gettext("In all"))
        if status.ack_required:
            click.echo(
                tr.gettext(
                    "  {department}: {recipients} recipients, {delivered} delivered, "
                    "{acked} acknowledged, {waiting} not yet",
                    department=name,
                    recipients=c.recipients,
                    delivered=c.delivered,
                    acked=c.acknowledged,
                    waiting=c.waiting,
                )
            )
        else:
            click.echo(
                tr.gettext(
                    "  {department}: {recipients} recipients, {delivered} delivered",
                    department=name,
                    recipients=c.recipients,
                    delivered=c.delivered,
                )
            )
    if csv_path is not None and data is not None:
        csv_path.write_bytes(data)


@main.group(help="The training knowledge base: import, export, publish, roll back.")
def faq() -> None:
    """``govbot faq``."""


@faq.command(
    "import", help="Import entries from XLSX, CSV or YAML (checked first, all or nothing)."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--draft", is_flag=True, help="Save as drafts instead of publishing.")
@click.option("--dry-run", is_flag=True, help="Only print the report; change nothing.")
def faq_import(file: Path, draft: bool, dry_run: bool) -> None:
    """``govbot faq import FILE``."""
    from bot.faq.library import ImportPlan

    settings = _settings()
    tr = _tr()
    data = file.read_bytes()

    async def go(services: Services) -> ImportPlan | ImportFileError:
        try:
            plan = await services.knowledge.plan_import(data, file.name)
        except ImportFileError as exc:  # the file as a whole: said below, not as a traceback
            return exc
        if dry_run or not plan.ok:
            return plan
        result = await services.knowledge.apply_import(
            data, file.name, tg_id=None, publish=not draft
        )
        return result.plan

    plan = _run(_with_services(settings, go))
    if isinstance(plan, ImportFileError):
        _fail(tr.gettext(_file_error(plan.reason), reason=plan.reason))
        return
    for problem in plan.checked.problems:
        click.echo(problem.message(tr.gettext), err=True)
    click.echo(
        tr.gettext(
            "{entries} entries: {new} new, {changed} changed, {unchanged} unchanged",
            entries=len(plan.checked.entries),
            new=len(plan.new),
            changed=len(plan.changed),
            unchanged=len(plan.unchanged),
        )
    )
    if not plan.ok:
        click.echo(
            tr.ngettext(
                "{n} problem; nothing was changed.",
                "{n} problems; nothing was changed.",
                len(plan.checked.problems),
            ),
            err=True,
        )
        sys.exit(1)
    if dry_run:
        click.echo(tr.gettext("dry run: nothing was changed"))
    elif draft:
        click.echo(tr.gettext("saved as drafts; publish them with `govbot faq publish KEY`"))
    else:
        click.echo(tr.gettext("published"))


@faq.command("export", help="Write the published knowledge base to a file (.xlsx, .csv, .yaml).")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--drafts", is_flag=True, help="Export the drafts where there are any.")
def faq_export(out: Path, drafts: bool) -> None:
    """``govbot faq export OUT``."""
    fmt = out.suffix.lower().lstrip(".").replace("yml", "yaml")
    if fmt not in ("xlsx", "csv", "yaml"):
        _fail(_tr().gettext("the file must end in .xlsx, .csv or .yaml"))
    data = _run(_with_services(_settings(), lambda s: s.knowledge.export(fmt, drafts=drafts)))
    out.write_bytes(data)
    click.echo(_tr().gettext("wrote {path}", path=out))


@faq.command("publish", help="Publish an entry's draft as its next version.")
@click.argument("key")
def faq_publish(key: str) -> None:
    """``govbot faq publish KEY``."""
    version = _run(_with_services(_settings(), lambda s: s.knowledge.publish(key, tg_id=None)))
    click.echo(_tr().gettext("{key}: version {version} published", key=key, version=version))


@faq.command("rollback", help="Publish an earlier version of an entry again.")
@click.argument("key")
@click.argument("version", type=int)
def faq_rollback(key: str, version: int) -> None:
    """``govbot faq rollback KEY VERSION``."""
    number = _run(
        _with_services(_settings(), lambda s: s.knowledge.rollback(key, version, tg_id=None))
    )
    click.echo(
        _tr().gettext(
            "{key}: version {old} published again as version {version}",
            key=key,
            old=version,
            version=number,
        )
    )


@faq.command("list", help="List the entries: key, status, published version, question.")
def faq_list() -> None:
    """``govbot faq list``."""
    views = _run(_with_services(_settings(), lambda s: s.knowledge.entries()))
    for view in views:
        version = f"v{view.published_version}" if view.published_version else "-"
        draft = "*" if view.has_draft else " "
        click.echo(f"{view.key:32} {view.status:10} {version:>4}{draft} {view.content.question}")


@faq.group("glossary", help="The trainers' glossary of synonyms: export and import.")
def faq_glossary() -> None:
    """``govbot faq glossary``."""


@faq_glossary.command("export", help="Write the trainers' glossary to a file (.xlsx or .csv).")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def faq_glossary_export(out: Path) -> None:
    """``govbot faq glossary export OUT``."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        _fail(_tr().gettext("the file must end in .xlsx or .csv"))
    data = _run(_with_services(_settings(), lambda s: s.faq_glossary.export(fmt)))
    out.write_bytes(data)
    click.echo(_tr().gettext("wrote {path}", path=out))


@faq_glossary.command(
    "import", help="Replace the trainers' glossary with a file (checked first, all or nothing)."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only print the report; change nothing.")
def faq_glossary_import(file: Path, dry_run: bool) -> None:
    """``govbot faq glossary import FILE``."""
    from bot.faq.glossary import GlossaryPlan
    from handlers.render.faq_trainer import file_error_text

    tr = _tr()
    data = file.read_bytes()

    async def go(services: Services) -> GlossaryPlan | ImportFileError:
        try:
            plan = await services.faq_glossary.plan_import(data, file.name)
        except ImportFileError as exc:
            return exc
        if dry_run or not plan.ok:
            return plan
        return await services.faq_glossary.apply_import(data, file.name)

    plan = _run(_with_services(_settings(), go))
    if isinstance(plan, ImportFileError):
        _fail(file_error_text(plan.reason, tr, kind="glossary"))
        return
    for problem in plan.problems:
        click.echo(problem.message(tr.gettext), err=True)
    click.echo(
        tr.gettext(
            "{total} synonym groups: {new} new, {changed} changed, {removed} removed, "
            "{unchanged} unchanged",
            total=len(plan.groups),
            new=plan.added,
            changed=plan.changed,
            removed=plan.removed,
            unchanged=plan.unchanged,
        )
    )
    if not plan.ok:
        click.echo(
            tr.ngettext(
                "{n} problem; nothing was changed.",
                "{n} problems; nothing was changed.",
                len(plan.problems),
            ),
            err=True,
        )
        sys.exit(1)
    if dry_run:
        click.echo(tr.gettext("dry run: nothing was changed"))
    elif plan.same:
        click.echo(tr.gettext("the glossary already matches the file: nothing was changed"))
    else:
        click.echo(tr.gettext("the trainers' glossary is replaced"))


@faq.command("eval", help="Evaluate answering on a labelled query file (top-1, abstention, …).")
@click.option("--kb", "kb", required=True, help="A knowledge-base file (.yaml/.xlsx/.csv) or db.")
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled queries: query, expected (an id or null), style.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option(
    "--calibrate", is_flag=True, help="Choose the thresholds on these queries (in-sample)."
)
def faq_eval(kb: str, queries: Path, as_json: bool, calibrate: bool) -> None:
    """``govbot faq eval --kb KB|db --queries Q``."""
    from bot.faq.evaluation import evaluate

    settings = _settings()
    if kb == "db":
        contents = [
            c for c, _ in _run(_with_services(settings, lambda s: s.knowledge.published_content()))
        ]
    else:
        from bot.faq.files import read_file

        path = Path(kb)
        if not path.is_file():
            _fail(_tr().gettext("no such file: {path}", path=kb))
        try:
            contents, _ = read_file(path.read_bytes(), path.name)
        except ImportFileError as exc:
            _fail(_tr().gettext(_file_error(exc.reason), reason=exc.reason))
            return
    report = evaluate(
        contents,
        queries,
        answer=settings.faq_answer,
        suggest=settings.faq_suggest,
        calibrate=calibrate,
    )
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for line in report_lines(report):
        click.echo(line)


def report_lines(report: dict[str, Any]) -> list[str]:
    """The evaluation report as aligned lines (numbers, so the same in every language)."""

    def pct(value: Any) -> str:
        return "-" if value is None else f"{100 * value:5.1f}%"

    lines = [
        f"queries {report['queries']}, thresholds answer {report['thresholds']['answer']:.3f} "
        f"suggest {report['thresholds']['suggest']:.3f}"
        + (" (calibrated on these queries)" if report["calibrated"] else "")
    ]
    for key in ("top1", "top3", "overall", "abstain_precision", "abstain_recall"):
        lines.append(f"  {key:20} {pct(report[key])}")
    for key in ("english_to_zh_top1", "near_miss_abstained", "suggest_rate"):
        if key in report:
            lines.append(f"  {key:20} {pct(report[key])}")
    latency = report["latency_ms"]
    lines.append(f"  latency mean {latency['mean']:.2f} ms, p99 {latency['p99']:.2f} ms")
    for style, row in sorted(report["per_style"].items()):
        lines.append(
            f"  {style:14} n={row['n']:3} top1 {pct(row.get('top1'))} overall "
            f"{pct(row.get('overall'))}"
        )
    return lines


SANDBOX_PORT = 8765


def _sandbox_dir(data_dir: Path | None) -> Path:
    """--data-dir, else GOVBOT_DATA_DIR, else ./data-sandbox: never production's data/."""
    if data_dir is not None:
        return data_dir
    configured = os.environ.get("GOVBOT_DATA_DIR")
    return Path(configured) if configured else Path("data-sandbox")


def _sandbox(
    port: int, open_browser: bool, reset: bool, data_dir: Path | None, cons: bool
) -> None:
    from handlers.sandbox.run import SandboxError, run_sandbox

    try:
        _run(
            run_sandbox(
                _settings(),
                data_dir=_sandbox_dir(data_dir),
                port=port,
                open_browser=open_browser,
                reset=reset,
                with_console=cons,
            )
        )
    except SandboxError as exc:
        _fail(str(exc))


@main.command(
    help="Try the whole assistant in a browser: the real bot against the built-in Telegram "
    "emulator, a demo city government, several staff side by side (no token, no internet)."
)
@click.option(
    "--port", default=SANDBOX_PORT, show_default=True, help="Port of the page on 127.0.0.1."
)
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening it.")
@click.option("--reset", is_flag=True, help="Forget the saved sandbox and start a fresh one.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the sandbox keeps its data (default: GOVBOT_DATA_DIR or ./data-sandbox).",
)
@click.option(
    "--console", "cons", is_flag=True, help="Also read phone commands from this terminal."
)
def sandbox(port: int, no_browser: bool, reset: bool, data_dir: Path | None, cons: bool) -> None:
    """``govbot sandbox``."""
    _sandbox(port, not no_browser, reset, data_dir, cons)


@main.command(help="The sandbox without a browser, driven from this terminal (see `sandbox`).")
@click.option("--port", default=SANDBOX_PORT, show_default=True)
@click.option("--reset", is_flag=True, help="Forget the saved sandbox and start a fresh one.")
def demo(port: int, reset: bool) -> None:
    """``govbot demo``: ``sandbox --no-browser --console``."""
    _sandbox(port, False, reset, None, True)


@main.command(help="Run the loopback Bot API emulator alone.")
@click.option("--port", default=8081, show_default=True)
def emulator(port: int) -> None:
    """``govbot emulator``."""
    from bot.emulator.__main__ import main as emulator_main

    emulator_main(["--port", str(port)])


if __name__ == "__main__":
    main()
