"""Issue 17, one site's upload can never break the night: the nightly flow, run for real
on Prefect's harness, with a hostile file for each reader failure in the inbox beside
the sample programme. Before the fix the first such file raised out of the ingest task,
the flow failed, the file stayed in the inbox and nothing behind it loaded, night after
night. Now each hostile file goes to ``inbox/failed/`` with its reason, every other file
loads and the evaluation is stored. (Rendering is left to the report suite.)"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from flows.nightly import nightly_evaluation
from reval.config import Settings
from reval.pipeline import sample_data_files
from reval.warehouse import Warehouse

_spec = importlib.util.spec_from_file_location(
    "hardening_readers", Path(__file__).with_name("test_hardening_readers.py")
)
assert _spec is not None
assert _spec.loader is not None
readers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readers)


def test_hostile_files_go_to_failed_and_the_night_goes_on(
    harness: None, settings: Settings
) -> None:
    settings.inbox_dir.mkdir(parents=True)
    for path in sample_data_files():
        shutil.copy(path, settings.inbox_dir / path.name)
    for name, (content, _) in readers.HOSTILE.items():
        (settings.inbox_dir / name).write_bytes(content)
    run_id = nightly_evaluation(str(settings.home), render=False)
    failed = settings.inbox_dir / "failed"
    for name, (_, words) in readers.HOSTILE.items():
        (moved,) = failed.glob(f"*-{name}")
        reason = moved.with_name(moved.name + ".problems.txt").read_text(encoding="utf-8")
        assert words in reason.casefold(), name
    processed = {p.name.split("-", 1)[1] for p in (settings.inbox_dir / "processed").glob("*")}
    assert processed == {p.name for p in sample_data_files()}
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        assert warehouse.latest_run() == run_id
        sites = set(warehouse.current("sites")["site_id"])
        results = warehouse.stored_results(run_id)[0]
    expected = {p.stem for p in sample_data_files() if p.parent.name == "workbooks"}
    assert sites == expected
    assert expected <= set(results["site_id"])
