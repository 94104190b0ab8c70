"""Where JupyterLab serves files from, so that the explorer's links open (``/files/<path below the root>``)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

#: Set by ``physio-outcomes lab`` for the server (and so for its kernels): the folder JupyterLab serves.
ROOT_ENV = "PHYSIO_OUTCOMES_LAB_ROOT"


def jupyter_root(cwd: Path | None = None) -> tuple[Path, str] | None:
    """The root folder and base URL of the Jupyter server this kernel runs under, or None when unknown.

    ``physio-outcomes lab`` says it in :data:`ROOT_ENV`; otherwise the running
    servers' own records (``jupyter_server``'s runtime files) are read, and
    the server whose root holds the kernel's folder (the deepest, if several)
    is taken.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from analysis.app._lab_paths import ROOT_ENV, jupyter_root
    >>> os.environ[ROOT_ENV] = tempfile.gettempdir()
    >>> jupyter_root()[0] == Path(tempfile.gettempdir()).resolve()
    True
    >>> del os.environ[ROOT_ENV]
    """
    named = os.environ.get(ROOT_ENV)
    if named:
        return Path(named).resolve(), "/"
    here = (cwd or Path.cwd()).resolve()
    try:
        from jupyter_server.serverapp import list_running_servers

        servers = list(list_running_servers())
    except Exception:  # no server package, or unreadable runtime files: links fall back to the path
        return None
    best = None
    for s in servers:
        root = s.get("root_dir") or s.get("notebook_dir")
        if not root:
            continue
        root = Path(root).resolve()
        if here.is_relative_to(root) and (best is None or len(root.parts) > len(best[0].parts)):
            best = (root, s.get("base_url") or "/")
    return best


def lab_href(path: Path, root: tuple[Path, str] | None) -> str | None:
    """The URL under which JupyterLab serves *path*: ``<base>files/<path below the root>``; None outside the root.

    Examples
    --------
    >>> from pathlib import Path
    >>> from analysis.app._lab_paths import lab_href
    >>> lab_href(Path("/srv/lab/reports/r 1.html"), (Path("/srv/lab"), "/"))
    '/files/reports/r%201.html'
    >>> lab_href(Path("/elsewhere/r.html"), (Path("/srv/lab"), "/")) is None
    True
    """
    if root is None:
        return None
    folder, base = root
    try:
        rel = Path(path).resolve().relative_to(folder)
    except ValueError:
        return None
    return base.rstrip("/") + "/files/" + quote(rel.as_posix())
