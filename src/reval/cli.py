"""The ``reval`` command: a thin typer adapter over ``reval.pipeline``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from flows.local_server import LocalServerStart
    from reval.config import Settings

# Only typer is imported here: every command imports what it needs when it runs, so
# `reval --help` and quick commands start at once (pandas, pandera and statsmodels take
# seconds to import on a machine without compiled bytecode).


def load_settings() -> Settings:
    """Settings from the environment (and Prefect's offline defaults), read when a command runs."""
    from reval.config import load_settings as settings_from_environment

    return settings_from_environment()


class _PlainErrors(TyperGroup):
    """A warehouse that is busy or damaged (or any reval error a command did not catch)
    is one plain line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from reval.errors import RevalError

        try:
            return super().invoke(ctx)
        except RevalError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(1) from None
        except Exception as error:
            if not type(error).__module__.startswith(("duckdb", "_duckdb")):
                raise
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            typer.echo(f"The warehouse could not be read ({first}); 'reval check' says what is "
                       "damaged and 'reval rebuild' restores it from the archive.", err=True)  # fmt: skip
            raise typer.Exit(1) from None


app = typer.Typer(
    name="reval",
    help="Participatory evaluation for people-powered health programmes.",
    no_args_is_help=True,
    add_completion=False,
    cls=_PlainErrors,
)


@app.command()
def init() -> None:
    """Create the workspace (warehouse, archive, inbox, reports, programme.yaml) if missing."""
    from reval.pipeline import init_workspace
    from reval.programme import programme_path

    home = init_workspace(load_settings())
    typer.echo(f"Workspace ready at {home}")
    typer.echo(f"Programme file: {programme_path(home)} (edit it, then: reval programme check)")


@app.command("sample-data")
def sample_data(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder to write into [default: sample_data/]."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed [default: the committed sample's seed]."),
    ] = None,
    programme_name: Annotated[
        str | None,
        typer.Option(
            "--programme",
            help="'neighbours': the second sample programme (four "
            "sites, WEMWBS and ONS4, three waves) with its programme.yaml; needs --out.",
        ),
    ] = None,
) -> None:
    """Write the synthetic six-site programme (workbooks, catalogue, truth.json)."""
    from reval.config import SAMPLE_DATA_DIR

    if programme_name is not None:
        from reval import second_programme as second

        if programme_name != second.NAME or out is None:
            typer.echo(f"--programme takes '{second.NAME}', with --out FOLDER", err=True)
            raise typer.Exit(2)
        made = second.second_programme(second.DEFAULT_SEED if seed is None else seed)
        for path in second.write_second_programme(made, out):
            typer.echo(str(path))
        return

    from reval.synthetic_programme import DEFAULT_SEED, synthetic_programme, write_sample_data

    programme = synthetic_programme(DEFAULT_SEED if seed is None else seed)
    for path in write_sample_data(programme, out or SAMPLE_DATA_DIR):
        typer.echo(str(path))


@app.command()
def templates(
    out: Annotated[Path, typer.Argument(help="Folder for the blank templates.")],
    statements: Annotated[
        Path | None,
        typer.Option(
            help="Paradigm statements CSV whose items become survey columns "
            "[default: the sample programme's catalogue]."
        ),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option(help="Make the templates for this site: site_id filled in and locked."),
    ] = None,
) -> None:
    """Write a blank .xlsx template per table, with instructions and dropdowns."""
    import pandas as pd

    from reval.config import SAMPLE_DATA_DIR
    from reval.errors import RevalError
    from reval.pipeline import workspace_contract
    from reval.site_templates import write_templates
    from reval.uploads import template_audience

    settings = load_settings()
    catalogue = pd.read_csv(statements or SAMPLE_DATA_DIR / "paradigm_statements.csv")
    contract = _contract_or_exit(workspace_contract, settings)
    try:
        audience = template_audience(settings, site)
    except RevalError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    for path in write_templates(out, catalogue, contract=contract, audience=audience):
        typer.echo(str(path))


def _existing_files(files: list[Path]) -> list[Path]:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"No such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    return files


def _print_reports(reports: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in reports], indent=2, default=str))
        return
    for report in reports:
        typer.echo(report.summary())
        if report.verdict:  # the whole file is another site's: one sentence, no rows to fix
            typer.echo(f"  {report.verdict}")
            continue
        for group in report.groups():  # the same problem on many rows is one line
            typer.echo(f"  - {group.message()}")
        if report.rows_rejected and report.status not in {"valid", "partly_valid", "invalid"}:
            typer.echo(f"  Rows to fix: reval rejected {report.ingest_id} -o fixes.xlsx")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Spreadsheets (.xlsx, .ods, .csv) to load.")],
    site: Annotated[str | None, typer.Option(help="Only accept rows for this site_id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Validate files and load what is accepted; exit 1 if anything was rejected."""
    from reval.pipeline import ingest_file, init_workspace

    settings = load_settings()
    init_workspace(settings)
    reports = [ingest_file(settings, path, site_id=site) for path in _existing_files(files)]
    _print_reports(reports, as_json)
    raise typer.Exit(0 if all(r.fully_accepted for r in reports) else 1)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Spreadsheets to check without loading.")],
    site: Annotated[str | None, typer.Option(help="Check as an upload for this site_id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Dry run: list every problem in files, store nothing; exit 1 if any."""
    from reval.pipeline import validate_file

    settings = load_settings()
    reports = [validate_file(settings, path, site_id=site) for path in _existing_files(files)]
    _print_reports(reports, as_json)
    raise typer.Exit(0 if all(r.fully_accepted for r in reports) else 1)


@app.command("fixes")
@app.command()
def rejected(
    upload: Annotated[str, typer.Argument(help="Ingest id, or the path of the uploaded file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Workbook to write.")] = Path(
        "fixes.xlsx"
    ),
) -> None:
    """Write an upload's rows to fix as a fix-up workbook: problems column first, each bad
    cell red with its message as a note, the template's dropdowns (also: reval fixes)."""
    from reval.errors import RevalError
    from reval.pipeline import write_fixes

    try:
        path = write_fixes(load_settings(), upload, out)
    except RevalError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    typer.echo(f"Rows to fix written to {path}")


@app.command("match")
def match_command(
    data: Annotated[Path, typer.Option(help="CSV with one row per person.")],
    treatment: Annotated[str, typer.Option(help="Column: 1 = participant, 0 = comparison pool.")],
    covariates: Annotated[str, typer.Option(help="Comma-separated columns to match on.")],
    outcome: Annotated[str, typer.Option(help="Outcome column (the follow-up value).")],
    pre: Annotated[
        str | None, typer.Option(help="Baseline column: estimate on outcome - pre.")
    ] = None,
    exact: Annotated[
        str | None, typer.Option(help="Comma-separated columns to match exactly.")
    ] = None,
    caliper: Annotated[float | None, typer.Option(help="Caliper in SDs of the distance.")] = None,
    ratio: Annotated[int, typer.Option(help="Comparisons per participant.")] = 1,
    replace: Annotated[bool, typer.Option("--replace", help="Match with replacement.")] = False,
    distance: Annotated[
        str, typer.Option(help="logit, probability or mahalanobis.")
    ] = "probability",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Matched-comparison effect on the treated (ATT) for any CSV."""
    from reval.matching import MatchingError, balance, effect, match, read_matching_csv

    if distance not in {"logit", "probability", "mahalanobis"}:
        typer.echo("--distance must be logit, probability or mahalanobis", err=True)
        raise typer.Exit(2)
    if not data.is_file():
        typer.echo(f"No such file: {data}", err=True)
        raise typer.Exit(2)
    try:
        frame = read_matching_csv(data, [treatment, *_split(covariates), outcome,
                                         *_split(pre), *_split(exact)])  # fmt: skip
        sample = match(frame, treatment, _split(covariates), distance=distance, ratio=ratio,  # type: ignore[arg-type]
                       replace=replace, caliper=caliper, exact=_split(exact) or None)  # fmt: skip
        result = effect(sample, outcome, pre=pre)
    except MatchingError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    table = balance(sample, ecdf=False)  # the summary shows SMDs and variance ratios
    summary = {
        "att": result.estimate, "se": result.se, "ci_low": result.ci_low, "ci_high": result.ci_high,
        "p_value": result.p_value, "e_value": result.e_value, "e_value_ci": result.e_value_ci,
        "n_treated": sample.n_treated, "n_control": sample.n_control,
        "n_matched_treated": sample.n_matched_treated, "n_matched_control": sample.n_matched_control,
        "balance": table.loc[table["covariate"] != "distance",
                             ["covariate", "smd_before", "smd_after", "var_ratio_before",
                              "var_ratio_after"]].to_dict(orient="records"),
    }  # fmt: skip
    if as_json:
        typer.echo(json.dumps(_finite(summary), indent=2, allow_nan=False))
        return
    typer.echo(f"ATT {result.estimate:.4g} (95% CI {result.ci_low:.4g} to {result.ci_high:.4g}), "
               f"SE {result.se:.4g}, p = {result.p_value:.3g}, E-value {result.e_value:.3g}")  # fmt: skip
    typer.echo(f"Matched {sample.n_matched_treated} of {sample.n_treated} participants with "
               f"{sample.n_matched_control} of {sample.n_control} comparisons")  # fmt: skip
    for row in summary["balance"]:  # type: ignore[union-attr]
        flag = "  <- unbalanced" if abs(row["smd_after"]) >= 0.1 else ""
        typer.echo(
            f"  {row['covariate']:<24} SMD {row['smd_before']:+.3f} -> {row['smd_after']:+.3f}{flag}"
        )


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _finite(value: object) -> object:
    """NaN and infinities become null: JSON has no words for them."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@app.command()
def evaluate(
    run_id: Annotated[
        str | None, typer.Option(help="Store under this run id (default: new).")
    ] = None,
) -> None:
    """Fit every model on the warehouse's current data and store the results."""
    from reval.pipeline import evaluate as evaluate_use_case

    run, result = evaluate_use_case(load_settings(), run_id)
    typer.echo(
        f"Run {run}: {len(result.results)} estimates, {len(result.intended)} intended outcomes"
    )
    for failure in result.failures:
        typer.echo(f"  FAILED {failure['site_id']}: {failure['error']}")
    raise typer.Exit(1 if result.failures else 0)


@app.command()
def run(
    dask: Annotated[
        str | None,
        typer.Option(
            help="Fan sites out on Dask: a scheduler address, or 'local' for a local cluster."
        ),
    ] = None,
) -> None:
    """Run the nightly evaluation flow once now (Prefect's local ephemeral server)."""
    settings = load_settings()  # applies Prefect's offline defaults before Prefect loads
    server = _begin_prefect()
    from flows.nightly import nightly_evaluation, nightly_on_dask

    _ready(server)
    if dask is None:
        run_id = nightly_evaluation(str(settings.home))
    else:
        run_id = nightly_on_dask(str(settings.home), None if dask == "local" else dask)
    typer.echo(f"Nightly evaluation stored run {run_id}; see: reval results --run {run_id}")


def _begin_prefect() -> LocalServerStart:
    """Start Prefect's local server (a limit fit for small machines, one retry) while the
    command goes on importing what it needs; ``_ready`` waits for it."""
    from flows.local_server import LocalServerStart

    return LocalServerStart()


def _ready(server: LocalServerStart) -> None:
    """A server that did not start is one paragraph and exit code 1, not a traceback."""
    from flows.local_server import LocalServerStartError

    try:
        server.wait()
    except LocalServerStartError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error


@app.command()
def serve(
    cron: Annotated[str, typer.Option(help="When the nightly run starts (cron).")] = "0 2 * * *",
    timezone: Annotated[
        str, typer.Option(help="Time zone of the cron schedule.")
    ] = "Europe/London",
) -> None:
    """Register the nightly and upload deployments and keep serving them (Ctrl-C stops)."""
    settings = load_settings()
    server = _begin_prefect()
    from flows.deployments import serve as serve_deployments

    _ready(server)
    typer.echo(f"Serving: nightly evaluation at '{cron}' ({timezone}) and on-demand uploads.")
    serve_deployments(str(settings.home), cron, timezone)


@app.command()
def report(
    site: Annotated[
        str | None, typer.Option(help="Only this site's reports (default: every site).")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="programme, site, participant, or a comma list.")
    ] = "programme,site,participant",
    formats: Annotated[str, typer.Option("--format", help="html, pdf or html,pdf.")] = "html,pdf",
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest).")] = None,
) -> None:
    """Render the reports of a stored run (Quarto if installed, else the built-in renderer)
    into reports/<run>/ and reports/latest/. Exit 1 if any report failed."""
    from reval.errors import RevalError
    from reval.pipeline import REPORT_KINDS, render_reports

    wanted = tuple(f for f in _split(formats) if f in {"html", "pdf"})
    kinds = tuple(k for k in _split(kind) if k in REPORT_KINDS)
    if not wanted or len(wanted) != len(_split(formats)):
        typer.echo("--format must be html, pdf or html,pdf", err=True)
        raise typer.Exit(2)
    if not kinds or len(kinds) != len(_split(kind)):
        typer.echo(
            "--kind must be programme, site, participant (or a comma list of them)", err=True
        )
        raise typer.Exit(2)
    try:
        rendered = render_reports(load_settings(), run, wanted, kinds=kinds, site_id=site)  # type: ignore[arg-type]
    except RevalError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    for path in rendered.written.values():
        typer.echo(str(path))
    for stem, reason in rendered.failed.items():
        typer.echo(f"FAILED {stem}: {reason}", err=True)
    if rendered.failed:
        raise typer.Exit(1)


@app.command()
def results(
    site: Annotated[str | None, typer.Option(help="Only this site_id ('all' = pooled).")] = None,
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
) -> None:
    """Print the stored results of a run: every estimate and every intended outcome."""
    from reval.pipeline import stored_results

    run_id, estimates, intended = stored_results(load_settings(), run, site)
    if run_id is None:
        typer.echo("No results yet: run 'reval evaluate' first.", err=True)
        raise typer.Exit(1)
    rows = [
        {"site_id": r.site_id, "measure": r.measure, "kind": r.kind, "estimate": r.estimate,
         "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n, "status": r.status}
        for r in estimates.itertuples()
    ] + [
        {"site_id": r.site_id, "outcome_id": r.outcome_id, "measure": r.measure,
         "classification": r.classification, "gas_level": r.gas_level}
        for r in intended.itertuples()
    ]  # fmt: skip
    if as_json:
        typer.echo(
            json.dumps(_finite([{k: _plain(v) for k, v in row.items()} for row in rows]), indent=1)
        )
        return
    typer.echo(f"Run {run_id}")
    for row in rows:
        if "kind" in row:
            typer.echo(f"  {row['site_id']:<22}{row['kind']:<20}{row['measure']:<28}"
                       f"{_fmt(row['estimate'])} ({_fmt(row['ci_low'])} to {_fmt(row['ci_high'])})  {row['status']}")  # fmt: skip
        else:
            typer.echo(f"  {row['site_id']:<22}{row['outcome_id']:<8}{row['measure']:<28}"
                       f"{row['classification']}  GAS {row['gas_level']}")  # fmt: skip


def _plain(value: object) -> object:
    """numpy and pandas scalars as plain Python values for JSON."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        return value.item()  # type: ignore[union-attr]
    return value


def _fmt(value: object) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and not math.isfinite(value))
        else f"{value:.3g}"
    )


@app.command()
def demo() -> None:
    """Set up a workspace, put sample_data/ in its inbox, run the nightly flow once and
    say where everything is."""
    settings = load_settings()
    server = _begin_prefect()
    import shutil

    from reval.pipeline import init_workspace, row_counts, sample_data_files, stored_results

    init_workspace(settings)
    for path in sample_data_files():
        shutil.copy(path, settings.inbox_dir / path.name)
    from flows.nightly import nightly_evaluation

    _ready(server)
    run_id = nightly_evaluation(str(settings.home))
    counts = row_counts(settings)
    _, stored, intended = stored_results(settings, run_id)
    typer.echo("\nCurrent rows in the warehouse:")
    for table, count in counts.items():
        typer.echo(f"  {table:<22}{count:>8}")
    typer.echo(f"\nNightly evaluation run {run_id}: {len(stored)} estimates, "
               f"{len(intended)} intended outcomes classified")  # fmt: skip
    typer.echo(f"\nWorkspace: {settings.home}")
    typer.echo(f"Warehouse: {settings.warehouse_path}")
    typer.echo(f"Archive:   {settings.archive_dir}")
    typer.echo(f"Inbox:     {settings.inbox_dir} (processed/ and failed/ keep every file)")
    typer.echo("Results:   reval results [--site SITE] [--json]")
    latest = settings.reports_dir / "latest"
    typer.echo(
        f"Reports:   {latest} (programme report, a site report and a participant summary per site)"
    )
    for path in sorted(latest.glob("*.html")) + sorted(latest.glob("*.pdf")):
        typer.echo(f"           {path}")


# --- the upload portal ----------------------------------------------------------------------


@app.command()
def portal(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default REVAL_PORTAL_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default REVAL_PORTAL_PORT, 8000).")
    ] = None,
) -> None:
    """Serve the upload portal and report library until stopped (Ctrl-C)."""
    from reval.portal import serve as serve_portal

    settings = load_settings()
    typer.echo(
        f"Portal on http://{host or settings.portal_host}:{port or settings.portal_port}/ "
        f"(workspace {settings.home}); audit log {settings.portal_dir / 'audit.log'}"
    )
    serve_portal(settings, host, port)


sites_app = typer.Typer(help="Access to the portal: tokens for sites, funders and the evaluation team.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(sites_app, name="sites")


@sites_app.command("add-token")
def sites_add_token(
    site: Annotated[str | None, typer.Argument(help="site_id the token uploads for.")] = None,
    funder: Annotated[
        str | None, typer.Option(help="Make a funder token (reports only) named NAME.")
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Make an evaluation-team token (everything).")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Who holds it (for the audit log).")] = None,
) -> None:
    """Make an access token and print it once: only its hash is kept."""
    from reval.portal.access import AccessError, TokenStore

    if sum([site is not None, funder is not None, admin]) != 1:
        typer.echo("Give exactly one of: SITE, --funder NAME, --admin", err=True)
        raise typer.Exit(2)
    store = TokenStore(load_settings().portal_dir / "tokens.json")
    role = "site" if site is not None else "funder" if funder is not None else "admin"
    try:
        token = store.create(role, site_id=site, name=funder or name)  # type: ignore[arg-type]
    except AccessError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    who = f"site {site}" if site else f"funder {funder}" if funder else "the evaluation team"
    typer.echo(f"Token for {who} (shown once; keep it secret, give it only to its holder):")
    typer.echo(token)


@sites_app.command("list")
def sites_list() -> None:
    """List tokens (ids, roles, sites; never the tokens themselves)."""
    from reval.portal.access import TokenStore

    for r in TokenStore(load_settings().portal_dir / "tokens.json").records():
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        typer.echo(
            f"{r.token_id}  {r.role:<7}{r.site_id or r.name or '-':<24}created {r.created_at}  {state}"
        )


@sites_app.command("revoke")
def sites_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id from 'reval sites list'.")],
) -> None:
    """Stop a token working at once; sessions signed in with it end."""
    from reval.portal.access import AccessError, TokenStore

    try:
        record = TokenStore(load_settings().portal_dir / "tokens.json").revoke(token_id)
    except AccessError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    typer.echo(
        f"Token {record.token_id} ({record.role} {record.site_id or record.name or ''}) revoked."
    )


@app.command()
def check() -> None:
    """Read the whole warehouse (checksums verified) and look for every archived upload;
    say in plain words what is damaged and how to restore it. Exit 1 if anything is."""
    from reval.pipeline import check_workspace

    found = check_workspace(load_settings())
    rows = sum(found.rows.values())
    typer.echo(f"Warehouse OK: every table read in full ({rows:,} rows in {len(found.rows)} "
               "tables), checksums verified.")  # fmt: skip
    if found.missing:
        typer.echo(f"Archive: {len(found.missing)} of {found.archived} archived uploads are "
                   f"missing: {', '.join(found.missing[:10])}. Restore them from a backup of "
                   "the workspace's archive/ folder.", err=True)  # fmt: skip
        raise typer.Exit(1)
    typer.echo(f"Archive: all {found.archived} archived uploads present.")
    if found.unlisted:
        typer.echo(f"Archive list: {found.unlisted} archived upload(s) from before reval kept "
                   "archive/manifest.jsonl are not in it, so only the warehouse records the "
                   "order they arrived in and their sites. Run 'reval rebuild' while the "
                   "warehouse can be read: it replays them and adds them to the list.", err=True)  # fmt: skip


@app.command()
def rebuild() -> None:
    """Replay every archived upload, in the order it arrived, into a new warehouse; put it
    in place of the old one (kept beside it) and compare rows per table."""
    from reval.pipeline import rebuild_warehouse

    done = rebuild_warehouse(load_settings())
    typer.echo(f"Rebuilt the warehouse from {done.replayed} archived upload(s).")
    if done.kept_as is not None:
        typer.echo(f"The old warehouse is kept as {done.kept_as}.")
    for table, count in done.after.items():
        before = "unreadable" if done.before is None else f"{done.before.get(table, 0):,}"
        same = "" if done.before is None or done.before.get(table, 0) == count else "  <- differs"
        typer.echo(f"  {table:<22} before {before:>10}  after {count:>10,}{same}")
    if done.missing:
        typer.echo(f"Missing from the archive (not replayed): {', '.join(done.missing)}", err=True)
    typer.echo("Stored evaluation runs are not replayed: run 'reval evaluate' to refit.")
    raise typer.Exit(1 if done.missing else 0)


programme_app = typer.Typer(help="The programme file ($REVAL_HOME/programme.yaml): check it, show it.",
                            no_args_is_help=True)  # fmt: skip
app.add_typer(programme_app, name="programme")


def _contract_or_exit(build, *args):  # type: ignore[no-untyped-def]
    """A contract, or the programme file's error on stderr and exit 2."""
    from reval.programme import ProgrammeError

    try:
        return build(*args)
    except ProgrammeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error


@programme_app.command("check")
def programme_check(
    file: Annotated[
        Path | None, typer.Argument(help="Programme file [default: $REVAL_HOME/programme.yaml].")
    ] = None,
) -> None:
    """Check a programme file: exit 0 if it is valid, else say which key and line is wrong."""
    from reval.contract import programme_contract
    from reval.programme import parse_programme, programme_path

    path = file or programme_path(load_settings().home)
    if not path.is_file():
        typer.echo(f"No programme file at {path}: run 'reval init' to write one.", err=True)
        raise typer.Exit(2)
    programme = _contract_or_exit(parse_programme, path.read_text(encoding="utf-8"), path)
    contract = programme_contract(programme)
    typer.echo(f"{path} is valid: '{programme.title}', instruments "
               f"{', '.join(programme.instruments)}; contract version {contract.version}")  # fmt: skip


@programme_app.command("show")
def programme_show() -> None:
    """Print the contract in force: the programme, its instruments, every table and column."""
    from reval.contract import describe_contract
    from reval.pipeline import workspace_contract

    typer.echo(describe_contract(_contract_or_exit(workspace_contract, load_settings())))


if __name__ == "__main__":
    app()
