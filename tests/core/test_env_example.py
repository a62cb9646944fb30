"""`.env.example` documents every setting Aula reads, and nothing it does not."""

from __future__ import annotations

import re

from core.base.settings import Settings
from tests.helpers import ROOT


def test_env_example_lists_exactly_the_settings():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}
