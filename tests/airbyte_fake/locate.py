"""Where Airbyte's spec files are; kept free of heavy imports for conftest."""

from __future__ import annotations

import os
from pathlib import Path

PUBLIC_SPEC = "public-api.v1.8.0.yaml"
CONFIG_SPEC = "config-api.v1.8.0.yaml"
PROBLEMS_SPEC = "api-problems.v1.8.0.yaml"

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_dir() -> Path | None:
    """Where the spec files are: $AIRBYTE_API_SPECS_DIR, ../shared, /work/shared."""
    env = os.environ.get("AIRBYTE_API_SPECS_DIR")
    if env:
        candidates = [Path(env)]
    else:
        candidates = [
            REPO_ROOT.parent / "shared" / "airbyte-api",
            Path("/work/shared/airbyte-api"),
        ]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in (PUBLIC_SPEC, CONFIG_SPEC)):
            return candidate
    return None
