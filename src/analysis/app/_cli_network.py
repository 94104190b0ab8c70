"""``physio-outcomes network``: what a clinic would send (release), the network's figures from releases (combine),
and the report from a federated run's result (report)."""

from __future__ import annotations

import json
from pathlib import Path

from ._cli_common import DEFAULT_DATA, _data_folder, _print_problems, _progress, _UsageError

__all__ = ["add_network_parser"]


def _node(args):
    from ..disclosure import NodeSettings

    try:
        return NodeSettings(min_episodes=args.min_episodes, min_cell=args.min_cell, min_clinics=args.min_clinics)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _cmd_release(args) -> int:
    from ..disclosure import ReleaseRefused
    from ..records import DataProblemError, load_records
    from ._network import network_release

    folder = _data_folder(args.data)
    out = Path(args.out)
    if out.resolve().is_relative_to(folder.resolve()):
        raise _UsageError("the release must not be written inside the data folder; choose another -o")
    if out.exists() and not args.force:
        raise _UsageError(f"{out} exists; choose another -o or add --force to replace it")
    node = _node(args)
    _progress(f"Reading and checking {folder} ...")
    try:
        records = load_records(folder)
    except DataProblemError as exc:
        _print_problems(exc.problems)
        return 1
    try:
        rel = network_release(records, clinic=args.clinic, horizon_days=args.horizon_days,
                              population=args.population, node=node)
    except ReleaseRefused as exc:
        print(f"Nothing released: {exc}.")
        return 1
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(rel, indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    tmp.replace(out)
    w = rel["withheld"]
    print(f"Release of clinic {rel['clinic']}: {rel['data']['episodes']:,} episodes, "
          f"{len(rel['modalities'])} modalities; {len(w)} figure(s) withheld "
          f"(a count of 1-{node.min_cell - 1}, or needed to protect one).")
    for item in w:
        name = "all modalities" if item["group"] == "Overall" else rel["labels"].get(item["group"], item["group"])
        print(f"  - {name}: {item['outcome'].replace('_', ' ')} ({item['reason']})")
    print(f"Written to {out}: read it before agreeing to send it; it holds no patient row and no identifier.")
    return 0


def _cmd_combine(args) -> int:
    from ..disclosure import ReleaseRefused
    from ._network import combine_network, read_release

    node = _node(args)
    releases = []
    for path in args.releases:
        p = Path(path)
        if not p.is_file():
            raise _UsageError(f"no release file {p}")
        try:
            releases.append(read_release(p))
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
    try:
        result = combine_network(releases, node=node)
    except (ReleaseRefused, ValueError) as exc:
        raise _UsageError(str(exc)) from None
    _write_report(result, args)
    doc = result.summary()
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    elif not args.out:
        o = doc["overall"]
        lr = doc["tests"]["surgery_logrank"]
        pct = lambda b: "-" if b["rate"] is None else f"{100 * b['rate']:.0f}%"  # noqa: E731
        print(f"{len(doc['data']['clinics'])} clinics ({', '.join(doc['data']['clinics'])}), "
              f"{doc['data']['episodes']:,} episodes")
        print(f"Leg pain change {o['leg_pain_change']['mean']:+.2f} points; responders {pct(o['responder'])}; "
              f"recovered {pct(o['recovered'])} of those rated; surgery-free at "
              f"{doc['settings']['horizon_days']} days {pct(o['surgery_free'])}")
        if lr["chi2"] is not None:
            print(f"Log-rank (stratified by clinic): chi-squared {lr['chi2']:.2f} on {lr['df']} df, p = {lr['p']:.3f}")
        print("Adjusted comparisons need rounds of questions to the clinics: run them on the federated engine "
              "(network/vantage6).")
    return 0


def _write_report(result, args) -> None:
    """The network report to ``-o`` (an .html file), when asked for."""
    from ._network import build_network_report

    if not args.out:
        return
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise _UsageError("the report file name must end in .html")
    path = build_network_report(result, out, title=args.title, disclosure_rule=args.disclosure, progress=None)
    print(f"Network report: {path}")


def _read_result(path: Path):
    """A network result: the ``result`` of vantage6's central step (or that JSON text alone)."""
    from ._network import NetworkResult

    if not path.is_file():
        raise _UsageError(f"no result file {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _UsageError(f"{path} is not a JSON file") from None
    if isinstance(doc, dict) and "refused" in doc:
        raise _UsageError(f"{path} holds no result: the network analysis was refused ({doc['refused']})")
    if isinstance(doc, dict) and "result" in doc:
        doc = doc["result"]
    text = doc if isinstance(doc, str) else json.dumps(doc)
    try:
        return NetworkResult.from_json(text)
    except (ValueError, KeyError, TypeError):
        raise _UsageError(f"{path} is not a physio-outcomes network result (the central step's output)") from None


def _cmd_report(args) -> int:
    result = _read_result(Path(args.result))
    _write_report(result, args)
    if args.json or not args.out:
        print(json.dumps(result.summary(), indent=2, ensure_ascii=False, allow_nan=False))
    return 0


def add_network_parser(sub) -> None:
    """The ``network`` command and its ``release`` and ``combine`` subcommands."""
    p = sub.add_parser("network", help="clinic networks without pooling records: release, combine, report")
    nsub = p.add_subparsers(dest="network_command", metavar="STEP")
    nsub.required = True

    def report_options(q):
        q.add_argument("--title", default="Sciatica outcomes across the clinic network", help="report title")
        q.add_argument("--disclosure", choices=("internal", "public", "none"), default="internal",
                       help="disclosure control of small numbers in the report (internal)")

    def minimums(q):
        q.add_argument("--min-episodes", type=int, default=50, help="fewest episodes a release may rest on (50)")
        q.add_argument("--min-cell", type=int, default=8, help="smallest non-zero count that may be released (8)")
        q.add_argument("--min-clinics", type=int, default=3, help="fewest clinics a network analysis combines (3)")

    r = nsub.add_parser("release", help="what this clinic would send to its network (JSON, for the data steward "
                                        "to read)")
    r.add_argument("data", nargs="?", default=DEFAULT_DATA, help="the clinic's data folder")
    r.add_argument("-o", "--out", required=True, metavar="RELEASE.json", help="file to write")
    r.add_argument("--clinic", metavar="CODE", help="the clinic, when the folder holds several")
    r.add_argument("--horizon-days", type=int, default=365, help="horizon for surgery-free survival (365)")
    r.add_argument("--population", choices=("candidates", "all"), default="candidates",
                   help="surgery-free population (candidates)")
    r.add_argument("--force", action="store_true", help="replace OUT if it exists")
    minimums(r)
    r.set_defaults(func=_cmd_release)

    c = nsub.add_parser("combine", help="the network's figures from clinics' releases")
    c.add_argument("releases", nargs="+", metavar="RELEASE.json", help="release files, one per clinic")
    c.add_argument("--json", action="store_true", help="print the network's summary document (spec section 6)")
    c.add_argument("-o", "--out", metavar="FILE.html", help="write the network report")
    report_options(c)
    minimums(c)
    c.set_defaults(func=_cmd_combine)

    t = nsub.add_parser("report", help="the network report (and summary) from a federated run's result "
                                       "(vantage6's central step output)")
    t.add_argument("result", metavar="RESULT.json", help="the central step's output, or its 'result' alone")
    t.add_argument("-o", "--out", metavar="FILE.html", help="write the network report")
    t.add_argument("--json", action="store_true", help="print the network's summary document (the default "
                                                       "without -o)")
    report_options(t)
    t.set_defaults(func=_cmd_report)
