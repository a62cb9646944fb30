"""The request pipeline: one declared order, stages only for the requests they apply to."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from api import access, limits, pipeline, security
from tests.api.conftest import MakeApp

LIMITER_STAGES = (limits.refuse_after_failures, limits.count_mutation)


def test_flask_sees_one_hook_of_each_kind(quiet_app: Flask) -> None:
    assert len(quiet_app.before_request_funcs[None]) == 1
    assert len(quiet_app.after_request_funcs[None]) == 1
    assert len(quiet_app.teardown_request_funcs[None]) == 1


@pytest.fixture
def limited_app(make_app: MakeApp) -> Flask:
    return make_app(rate_limit_mutations="600/minute", rate_limit_auth_failures="10/minute")


def test_reads_skip_the_limiter_and_the_admin_check(limited_app: Flask) -> None:
    before, _ = pipeline.plans(limited_app, pipeline.BEFORE)
    after, _ = pipeline.plans(limited_app, pipeline.AFTER)

    for method in ("GET", "HEAD", "OPTIONS"):
        assert not set(before[method]) & {*LIMITER_STAGES, security.require_admin}
        assert limits.count_failure not in after[method]
    assert access.require_read_access in before["GET"]
    assert access.require_read_access not in before["POST"]


def test_a_mutation_runs_its_stages_in_the_declared_order(limited_app: Flask) -> None:
    before, after = (
        pipeline.plans(limited_app, pipeline.BEFORE)[0],
        pipeline.plans(limited_app, pipeline.AFTER)[0],
    )

    post = before["POST"]
    assert post[0] is security.start_request
    assert post.index(limits.refuse_after_failures) < post.index(security.require_admin)
    assert post.index(security.require_admin) < post.index(limits.count_mutation)
    assert post.index(security.require_admin) < post.index(security.require_valid_json)
    assert limits.count_failure in after["POST"]


def test_an_unknown_method_runs_only_the_stages_for_every_request(quiet_app: Flask) -> None:
    before, others = pipeline.plans(quiet_app, pipeline.BEFORE)

    assert "FOOBAR" not in before
    assert others == tuple(stage.run for stage in pipeline.BEFORE if stage.methods is None)


def test_disabled_limits_leave_no_limiter_stage(make_app: MakeApp) -> None:
    app = make_app(rate_limit_mutations="", rate_limit_auth_failures="")
    before, _ = pipeline.plans(app, pipeline.BEFORE)
    after, _ = pipeline.plans(app, pipeline.AFTER)

    assert not set(before["POST"]) & set(LIMITER_STAGES)
    assert limits.count_failure not in after["POST"]


def test_an_early_answer_still_passes_every_after_stage(
    make_app: MakeApp, capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(admin_token="t" * 32, log_format="json", log_level="INFO")
    capfd.readouterr()

    response = app.test_client().post("/api/catalog/rebuild", json={"source": "local"})

    assert response.status_code == 401
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server-Timing"].startswith("cpu;dur=")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]
    (line,) = [line for line in lines if line["logger"] == "aula.request"]
    assert line["status_code"] == 401
    assert line["request_id"] == response.headers["X-Request-ID"]
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'flask_http_request_total{method="POST",status="401"} 1.0' in metrics
