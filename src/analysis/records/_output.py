"""The safe output rule of every command that writes a folder: never remove what the tool did not create.

A folder the tool writes holds a marker file naming the command that wrote
it. ``--force`` replaces only such a folder, and only when it holds nothing
but the files that command writes; it never replaces a folder that holds
(or lies inside) the input, the key file or the mapping file.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MARKER", "OUTPUT_FILES", "OutputFolderError", "check_output_folder", "mark_output_folder"]

#: The file inside every folder physio-outcomes writes (and so may replace with ``--force``).
MARKER = ".physio-outcomes-output"

#: Files a data-folder-writing command creates.
OUTPUT_FILES = {MARKER, "episodes.csv", "visits.csv", "modalities.csv", "episodes.parquet", "visits.parquet"}


class OutputFolderError(ValueError):
    """An output folder that could not be written without losing something the tool did not create."""


def check_output_folder(out, *, command: str, protect=(), force: bool = False, in_place: bool = False) -> Path:
    """Check that writing (or, with *force*, replacing) the folder *out* can lose nothing; return it resolved.

    Parameters
    ----------
    out : str or pathlib.Path
        The folder to write.
    command : str
        The command writing it (``anonymise``, ``import``, ``sample``).
    protect : iterable of path, keyword-only
        What must survive: the input folder, the key file, the mapping file.
        *out* may be neither one of them, nor inside the input, nor contain any.
    force : bool, keyword-only
        Replace an existing, non-empty *out*; allowed only for a folder that
        *command* wrote before (its marker) holding nothing else.
    in_place : bool, keyword-only
        The command overwrites only its own files and leaves any other file
        where it is (``sample``: a data card beside the tables stays), so
        other files do not stop it.

    Raises
    ------
    FileExistsError
        *out* is not empty and *force* is not given.
    OutputFolderError
        Writing *out* could remove something else.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from analysis.records._output import check_output_folder
    >>> raw = Path(tempfile.mkdtemp()) / "raw"
    >>> raw.mkdir()
    >>> check_output_folder(raw.parent, command="anonymise", protect=[raw], force=True)
    Traceback (most recent call last):
    ...
    analysis.records._output.OutputFolderError: the output folder must not contain raw (replacing the output folder would delete it); choose a new folder beside it
    """
    out = Path(out).expanduser().resolve()
    for item in protect:
        if item is None:
            continue
        item = Path(item).expanduser().resolve()
        if out == item or (item.is_dir() and out.is_relative_to(item)):
            raise OutputFolderError(f"the output folder must be outside {item.name} (the input); choose a new folder")
        if item.is_relative_to(out):
            raise OutputFolderError(f"the output folder must not contain {item.name} (replacing the output folder "
                                    "would delete it); choose a new folder beside it")
    if not out.exists():
        return out
    if not out.is_dir():
        raise OutputFolderError(f"{out} exists and is not a folder; choose a folder name")
    content = list(out.iterdir())
    if not content:
        return out
    if not force:
        raise FileExistsError(f"{out} exists and is not empty; choose another folder or add --force")
    marker = out / MARKER
    wrote = _written_by(marker)
    if wrote != command:
        raise OutputFolderError(
            f"--force replaces only a folder that physio-outcomes {command} wrote before; {out} is not one "
            f"({'written by ' + wrote if wrote else 'no ' + MARKER + ' file'}), so nothing was replaced: "
            "choose a new folder")
    foreign = [p for p in content if p.name not in OUTPUT_FILES or not p.is_file()]
    if foreign and not in_place:
        raise OutputFolderError(f"{out} holds {len(foreign)} file(s) or folder(s) physio-outcomes did not write; "
                                "nothing was replaced: move them out or choose a new folder")
    return out


def mark_output_folder(folder, *, command: str) -> None:
    """Write the marker saying *command* wrote *folder* (so that a later ``--force`` may replace it)."""
    (Path(folder) / MARKER).write_text(json.dumps({"written_by": f"physio-outcomes {command}"}) + "\n",
                                       encoding="utf-8")


def _written_by(marker: Path) -> str | None:
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    who = doc.get("written_by", "") if isinstance(doc, dict) else ""
    return who.removeprefix("physio-outcomes ") or None
