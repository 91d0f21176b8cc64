"""Celery Beat starts the reconciliation on its schedule; a worker runs it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import select

from tests.conftest import ROOT, WorkerProcess, wait_until
from tests.reconcile.books import Ledger, env_of
from worker.store import ReconcileRun


class TestBeat:
    def test_beat_schedules_a_run_that_a_worker_completes(
        self,
        ledger: Ledger,
        tmp_path: Path,
    ) -> None:
        env = {**env_of(ledger, tmp_path / "reports"), "REVSYNC_RECONCILE_EVERY": "2"}
        worker = WorkerProcess(
            env,
            tmp_path / "worker.log",
            [
                "-Q",
                "reconcile",
                "-c",
                "1",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"reconcile-{uuid.uuid4().hex[:6]}@%h",
            ],
        )
        beat_log = open(tmp_path / "beat.log", "wb")
        beat = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "beat",
                "-s",
                str(tmp_path / "beat-schedule"),
                "--pidfile=",
                "-l",
                "INFO",
            ],
            env=env,
            cwd=ROOT,
            stdout=beat_log,
            stderr=subprocess.STDOUT,
        )
        try:
            worker.wait_ready()

            def finished_run() -> ReconcileRun | None:
                with ledger.store.session() as session:
                    return session.scalars(
                        select(ReconcileRun).where(ReconcileRun.status == "done")
                    ).first()

            run = wait_until(finished_run, 90, "a scheduled reconciliation run")
        finally:
            beat.terminate()
            beat.wait(timeout=30)
            beat_log.close()
            worker.stop()

        assert run.report_json is not None
        assert Path(run.report_json).exists()
        assert "revsync.reconcile.run" in (tmp_path / "beat.log").read_text()
