"""The request pipeline: every hook a request passes through, in one declared order.

Before the view, `BEFORE` runs top to bottom and stops at the first stage that answers (a
redirect, a 401, a 429...): the view then does not run. After the view, or after that early
answer, `AFTER` runs top to bottom on the response; `TEARDOWN` runs whatever happened. A stage
names the methods it applies to (None: every request) and, optionally, a condition on the app
checked once at start (a stage that is off costs nothing per request). Flask sees one hook of
each kind; nothing else edits its hook lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Flask, Response, request

from api import access, authz, headers, limits, metrics, people, security

Hook = TypeVar("Hook")
BeforeHook = Callable[[], Response | None]
AfterHook = Callable[[Response], Response]
# Methods a stage can be restricted to; any other method runs the stages that name none.
MUTATING = security.MUTATING
READS = access.READS
KNOWN_METHODS = metrics.METHODS


@dataclass(frozen=True)
class Stage(Generic[Hook]):
    """One hook of the pipeline, with the requests it applies to."""

    name: str
    run: Hook
    methods: frozenset[str] | None = None  # None: every method
    when: Callable[[Flask], bool] | None = None  # checked once, when the app is built

    def applies(self, method: str) -> bool:
        """Whether this stage runs for a request with `method`."""
        return self.methods is None or method in self.methods


BEFORE: tuple[Stage[BeforeHook], ...] = (
    # First: every later answer (early ones included) carries the id and is timed.
    Stage("request id and clocks", security.start_request),
    Stage("https redirect (FORCE_HTTPS)", headers.redirect_to_https),
    # Whether people exist decides what the next three stages ask (CONTRACT 8.2).
    Stage("people exist?", authz.note_people),
    # Before the token check, so that once past the limit no token is checked at all.
    Stage("failed-authentication limit", limits.refuse_after_failures, MUTATING, limits.configured),
    # Before routing errors: a mutation of an unknown path is refused for want of the token.
    Stage("admin token and Origin", security.require_admin, MUTATING),
    Stage("sign-in and roles (api/authz.py's table)", authz.authorise),
    Stage("oversized body", security.refuse_oversized),
    Stage("NUL characters", security.refuse_nul_characters),
    Stage("JSON body validity", security.require_valid_json, MUTATING),
    Stage("read access (REQUIRE_AUTH_FOR_READS)", access.require_read_access, READS),
    Stage("indexed Drive content", access.require_indexed_drive_content, READS),
    # After the admin check: only mutations that passed it are counted.
    Stage("mutation rate limit", limits.count_mutation, MUTATING, limits.configured),
)
AFTER: tuple[Stage[AfterHook], ...] = (
    Stage("request metrics", metrics.observe),
    Stage("failed-authentication counting", limits.count_failure, MUTATING, limits.configured),
    Stage("audit trail of credential changes and deletions", people.audit_changes, MUTATING),
    Stage("security headers", headers.security_headers),
    # Last: the log line shows the response as it leaves (CORS headers are added after it by
    # flask-cors's own hook, api.headers.register_headers, which changes no status or body).
    Stage("request id header and log line", security.finish_request),
)
TEARDOWN: tuple[Callable[[BaseException | None], None], ...] = (security.reset_context,)


def plans(
    app: Flask, stages: tuple[Stage[Hook], ...]
) -> tuple[Mapping[str, tuple[Hook, ...]], tuple[Hook, ...]]:
    """The hooks to run for each known method, and for any other method, in declared order."""
    enabled = [stage for stage in stages if stage.when is None or stage.when(app)]
    by_method = {
        method: tuple(stage.run for stage in enabled if stage.applies(method))
        for method in KNOWN_METHODS
    }
    others = tuple(stage.run for stage in enabled if stage.methods is None)
    return by_method, others


def install(app: Flask) -> None:
    """Give `app` the pipeline: one before-request, one after-request and one teardown hook."""
    before_by_method, before_others = plans(app, BEFORE)
    after_by_method, after_others = plans(app, AFTER)

    def before() -> Response | None:
        for hook in before_by_method.get(request.method, before_others):
            answer = hook()
            if answer is not None:
                return answer
        return None

    def after(response: Response) -> Response:
        for hook in after_by_method.get(request.method, after_others):
            response = hook(response)
        return response

    def teardown(error: BaseException | None) -> None:
        for hook in TEARDOWN:
            hook(error)

    app.before_request(before)
    app.after_request(after)
    app.teardown_request(teardown)
