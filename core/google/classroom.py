"""Classroom's v1 API: courses and their posts, every page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from core.base.settings import Settings
from core.google.drive import GoogleApi

PAGE_SIZE = 100
# updateTime ascending: a post edited while we page moves behind the cursor, so it is seen
# (perhaps twice) rather than skipped, as it could be with the default `updateTime desc`.
POST_ORDER = "updateTime asc"


class ClassroomClient(GoogleApi):
    """Classroom v1: courses, their courseWork and courseWorkMaterials, every page."""

    service = "Google Classroom"

    @staticmethod
    def base_url(settings: Settings) -> str:
        return f"{settings.classroom_api_url}/v1"

    def courses(self) -> Iterator[dict[str, Any]]:
        """Every course the user may see, in Classroom's default states (newest first)."""
        for page in self.pages("courses", "courses", {"pageSize": PAGE_SIZE}):
            yield from page

    def coursework(self, course_id: str) -> Iterator[dict[str, Any]]:
        """Every published courseWork of a course."""
        path = f"courses/{quote(course_id, safe='')}/courseWork"
        for page in self.pages(path, "courseWork", {"pageSize": PAGE_SIZE, "orderBy": POST_ORDER}):
            yield from page

    def topics(self, course_id: str) -> Iterator[dict[str, Any]]:
        """Every topic of a course, in courses.topics.list order (the course's sections)."""
        path = f"courses/{quote(course_id, safe='')}/topics"
        for page in self.pages(path, "topic", {"pageSize": PAGE_SIZE}):
            yield from page

    def materials(self, course_id: str) -> Iterator[dict[str, Any]]:
        """Every published courseWorkMaterial of a course."""
        path = f"courses/{quote(course_id, safe='')}/courseWorkMaterials"
        params = {"pageSize": PAGE_SIZE, "orderBy": POST_ORDER}
        for page in self.pages(path, "courseWorkMaterial", params):
            yield from page
