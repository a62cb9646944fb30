"""Local fakes of the outside services Aula talks to; tests never reach the real ones."""

from tests.fakes.google import FakeGoogle, RequestRecord

__all__ = ["FakeGoogle", "RequestRecord"]
