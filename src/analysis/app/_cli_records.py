"""Commands that write data folders: anonymise, import (with their keys and k-anonymity report) and sample."""

from __future__ import annotations

from pathlib import Path

from ._cli_common import _data_folder, _print_problems, _progress, _UsageError


def _write_or_explain(write, advice: str):
    """Run a folder-writing step; on problems list them, say nothing was written, and return None."""
    try:
        result = write()
    except (FileExistsError, ValueError) as exc:
        raise _UsageError(str(exc)) from None
    if not result.written:
        _print_problems(result.problems)
        print(f"Nothing was written: {advice} and run again.")
        return None
    return result


def _new_key_if_asked(args) -> None:
    from ..records import new_key

    if args.new_key:
        new_key(args.new_key)
        _progress(f"New key written to {args.new_key} (readable only by you). Keep it safe and out of "
                  "the data folder: the same key gives the same pseudonyms in later exports.")


def _key_from_args(args) -> bytes:
    """The key of ``--key-file`` (or the one ``--new-key`` has just written) for anonymise and import."""
    from ..records import read_key

    key_path = args.key_file or args.new_key
    if not key_path:
        raise _UsageError("give --key-file KEY (or --new-key KEY to create one)")
    return read_key(key_path)


def _print_written(out, counts: dict) -> None:
    print(f"Wrote {out}: " + ", ".join(f"{n:,} rows in {f}" for f, n in counts.items()))


def _print_k_anonymity(k: dict) -> None:
    print(f"k-anonymity over age band, sex, clinic, cause and start month: k = {k['k']} "
          f"({k['groups']:,} groups; {k['episodes_below_5']:,} episodes in groups under 5).")
    if k["warning"]:
        print("Warning: " + k["warning"])


def _cmd_anonymise(args) -> int:
    from ..records import KeyFileError, anonymise, dropped_kinds

    try:
        _new_key_if_asked(args)
        if args.new_key and args.raw is None:
            return 0
        if args.raw is None:
            raise _UsageError("give the raw export folder: physio-outcomes anonymise RAW -o OUT --key-file KEY")
        if not args.out:
            raise _UsageError("give the output folder with -o OUT")
        key = _key_from_args(args)
    except KeyFileError as exc:
        raise _UsageError(str(exc)) from None
    raw = _data_folder(args.raw)
    _progress(f"De-identifying {raw} ...")
    keep = [args.key_file, args.new_key]
    result = _write_or_explain(lambda: anonymise(raw, args.out, key=key, dates=args.dates, force=args.force,
                                                 protect=keep),
                               "fix the export (or remove the offending column)")
    if result is None:
        return 1
    dates = {"month": "start dates truncated to the first of the month",
             "shift": "start dates shifted back by a keyed 0-364-day offset per patient",
             "keep": "start dates kept as they were"}[args.dates]
    _print_written(args.out, result.counts)
    print("patient_id and episode_id replaced by keyed pseudonyms (HMAC-SHA-256); " + dates + ".")
    for f, cols in result.dropped.items():
        print(f"Dropped from {f}: {', '.join(dropped_kinds(cols))}")
    _print_k_anonymity(result.k_anonymity)
    return 0


def _cmd_import(args) -> int:
    from ..records import (
        KeyFileError,
        MappingError,
        dropped_kinds,
        import_export,
        read_mapping,
    )

    try:
        _new_key_if_asked(args)
        key = _key_from_args(args)
        mapping = read_mapping(args.mapping)
    except (KeyFileError, MappingError) as exc:
        raise _UsageError(str(exc)) from None
    raw = _data_folder(args.raw)
    _progress(f"Importing {raw} with {args.mapping} ...")
    keep = [args.key_file, args.new_key, args.mapping]
    res = _write_or_explain(lambda: import_export(raw, args.out, mapping=mapping, key=key, dates=args.dates,
                                                  force=args.force, protect=keep),
                            "fix the export or the mapping file")
    if res is None:
        return 1
    r = res.result
    _print_written(args.out, r.counts)
    print("Case, patient and therapist ids replaced by keyed pseudonyms (HMAC-SHA-256); dates turned into days "
          "from each episode's start.")
    for f, cols in res.unmapped.items():
        print(f"Not copied from {f}: {', '.join(dropped_kinds(cols))}")
    _print_k_anonymity(r.k_anonymity)
    return 0


def _cmd_sample(args) -> int:
    if args.episodes < 1:
        raise _UsageError("--episodes must be at least 1")
    out = Path(args.out)
    from ..records import check_output_folder, write_sample

    try:
        check_output_folder(out, command="sample", force=args.force, in_place=True)
    except (FileExistsError, ValueError) as exc:
        raise _UsageError(str(exc)) from None
    _progress(f"Generating {args.episodes:,} synthetic episodes (seed {args.seed}) ...")
    counts = write_sample(out, args.episodes, seed=args.seed, fmt=args.format, force=args.force)
    print(f"Wrote {counts['episodes']:,} episodes and {counts['visits']:,} visits to {out}")
    return 0


