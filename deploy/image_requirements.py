"""The requirements the code-location image installs: trace_assets' dependencies with the `deploy`
and `offline` extras, read from pyproject.toml, less what a code location does not run.

The Dockerfile installs these with `pip install -c constraints.txt -r ...`, then the project
itself with `--no-deps`. Usage (from the repository root):  python deploy/image_requirements.py
"""

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("deploy", "offline")
# Dependencies of the package that the image leaves out, and why.
LEFT_OUT = {
    # The UI is the chart's webserver image; a code location only runs `dagster api grpc`.
    # (It would bring dagster-graphql, graphene, starlette, uvicorn and the UI's static files.)
    "dagster-webserver": "the chart's webserver image serves the UI",
}


def image_requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    return [line for line in requirements if project_name(line) not in LEFT_OUT]


def project_name(requirement: str) -> str:
    """The normalised project name a requirement line starts with (the build stage's bare venv
    has no `packaging` to parse it with)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)).lower()


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    print("\n".join(image_requirements(root / "pyproject.toml")))
