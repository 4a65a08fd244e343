"""A job's events, items and error pass through redaction: what a job reports reaches
every viewer's screen and the API."""

from __future__ import annotations

from certmgr.app.results import Batch, ItemResult
from certmgr.web.jobs import JobRunner, Reporter


def test_credentials_in_a_jobs_lines_items_and_error_are_redacted() -> None:
    runner = JobRunner(workers=1)

    def work(reporter: Reporter) -> Batch:
        reporter.event("fetching https://user:s3cret-pw@ca.example/acme")
        reporter.item(ItemResult("x", "failed", ok=False,
                                 reason="refused by https://user:s3cret-pw@ca.example/"))
        raise RuntimeError("token=s3cret-pw went wrong")

    try:
        job = runner.submit("test", "subject", "alice", work)
        seen: list[str] = []
        while not job.done:
            seen += runner.wait(job, len(seen), 5.0)
        text = "\n".join(job.events) + repr(job.items) + str(job.error)
        assert "s3cret-pw" not in text, text
        assert job.state == "failed" and job.error is not None
        assert job.error.startswith("internal error: RuntimeError")
    finally:
        runner.shutdown()
