"""The point-and-click explorer for JupyterLab (``notebooks/00-explore.ipynb``).

A physiotherapist picks clinics, a period, modalities, subgroups (age band,
sex, cause, surgical candidacy, symptom duration), an outcome and a
disclosure rule with the mouse; the headline figures, the outcome table (an
interactive, sortable table: itables' widget, offline, nothing fetched), the
figure for the chosen outcome and a one-line note of what is selected update
at once (from :data:`BACKGROUND_EPISODES` selected episodes the figure, a model
fitted to the selection, follows from a background thread, its place saying
so meanwhile). "Save as report" writes the clinic-meeting report for exactly
that selection.

The logic is plain functions, tested without a browser:
:class:`Selection` (what is chosen), :func:`apply_selection` (selection to
filtered records and outcomes), :func:`selection_note`; :class:`Explorer`
owns the controls (ipywidgets 8) and re-renders.
"""

from __future__ import annotations

import datetime
import html
import io
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..disclosure import disclosure_rule
from ..methods import SYMPTOM_BANDS, derive_outcomes
from ..records import DataProblemError, Records, load_records
from ..present import explorer_style_html
from ..records.schema import AGE_BANDS, SEXES, code_label
from ._lab_paths import jupyter_root, lab_href
from ._selection import OUTCOMES, Selection, apply_selection, selection_note

__all__ = ["BACKGROUND_EPISODES", "Explorer"]

#: From this many selected episodes the figure (most are models fitted to the selection: seconds at a
#: million episodes) is drawn after the rest of the update, by one background thread: the note, the
#: headline and the table change at once, the figure's place says it is being drawn, and the figure
#: follows. Smaller selections draw it in the same update.
BACKGROUND_EPISODES = 10_000


@dataclass
class _State:
    records: Records | None = None
    folder: str | None = None
    #: seconds from a control change to the update shown (note, headline, table; the figure too when
    #: it is drawn in the same update)
    last_seconds: float = 0.0
    #: seconds from that change to the figure shown
    figure_seconds: float = 0.0


def _in_jupyter_kernel() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


class _FigureWorker:
    """One background thread drawing the latest figure asked for; older requests not yet started are
    dropped, and a figure finished after a newer request is not shown."""

    def __init__(self, show):
        self._show = show
        self._cv = threading.Condition()
        self._job = None
        self._busy = False
        self._thread = None
        #: figures are drawn one at a time, here or in the update itself (pyplot's settings are global)
        self.lock = threading.Lock()

    def submit(self, ticket, draw) -> None:
        with self._cv:
            self._job = (ticket, draw)
            self._cv.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="physio-figure", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._job is None:
                    self._cv.wait()
                (ticket, draw), self._job = self._job, None
                self._busy = True
            try:
                with self.lock:
                    try:
                        shown = draw()
                    except Exception:  # the thread outlives any figure's failure; never a traceback on screen
                        shown = ("<p>This figure could not be drawn for this selection. Change the selection "
                                 "or the figure; the table above is unaffected.</p>")
                self._show(ticket, shown)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no figure is waiting or being drawn; False if *timeout* seconds passed first."""
        with self._cv:
            return self._cv.wait_for(lambda: self._job is None and not self._busy, timeout)


class Explorer:
    """The explorer's controls and views (ipywidgets 8), re-rendered on every change.

    Parameters
    ----------
    folder : str or pathlib.Path
        Data folder to open first.
    reports_dir : str or pathlib.Path, optional
        Where "Save as report" writes (default ``reports`` beside the notebooks).
    keep_freed_memory : bool, optional, keyword-only
        Tune the process's allocator to reuse freed memory (as the command-line program does);
        default: when running in a Jupyter kernel (the explorer's notebook), not elsewhere.

    Examples
    --------
    >>> from analysis.app import Explorer
    >>> ex = Explorer("data/sample")
    >>> ex.episodes, ex.controls["clinics"].options
    (1500, ('CEN', 'NTH', 'STH'))
    >>> ex.controls["clinics"].value = ("NTH",)
    >>> ex.episodes < 1500
    True
    """

    def __init__(self, folder=None, *, reports_dir=None, keep_freed_memory: bool | None = None):
        import ipywidgets as w
        from itables.widget import ITable

        if keep_freed_memory if keep_freed_memory is not None else _in_jupyter_kernel():
            # every click re-selects a registry's records: reuse freed memory instead of having the system
            # zero fresh pages each time (the kernel is the explorer's; see keep_freed_memory)
            from ._memory import keep_freed_memory as keep

            keep()

        self.w = w
        self.state = _State()
        if folder is None:  # the sample data shipped with the package
            from ..records import sample_folder

            folder = sample_folder()
        self.lab_root = jupyter_root()
        if reports_dir is None:  # reports/ in the folder JupyterLab serves, so that its link opens
            here = Path.cwd()
            reports_dir = (self.lab_root[0] if self.lab_root else
                           here.parent if here.name == "notebooks" else here) / "reports"
        self.reports_dir = Path(reports_dir)
        self.episodes = 0
        self.table = pd.DataFrame()
        def lay():  # one Layout per widget: a shared one would give every list the last list's width
            return w.Layout(width="auto")

        def sel():
            return dict(rows=5, layout=w.Layout(width="170px"))

        def pick():
            return dict(layout=w.Layout(width="auto", max_width="100%"))
        self.controls = {
            "folder": w.Text(value=str(folder), description="Data folder",
                             layout=w.Layout(width="440px", max_width="100%")),
            "clinics": w.SelectMultiple(**sel()),
            "start_from": w.DatePicker(description="Episodes starting from", **pick()),
            "start_to": w.DatePicker(description="to", **pick()),
            "modalities": w.SelectMultiple(**sel()),
            "reference": w.Dropdown(description="Compare with", **pick()),
            "population": w.Dropdown(options=[("surgical candidates", "candidates"), ("all episodes", "all")],
                                     value="candidates", description="Surgery-free among", **pick()),
            "horizon_days": w.BoundedIntText(value=365, min=30, max=1825, step=30,
                                             description="Surgery-free up to day", layout=w.Layout(width="260px")),
            "age_bands": w.SelectMultiple(options=list(AGE_BANDS), **sel()),
            "sexes": w.SelectMultiple(options=[(code_label("sex", s), s) for s in SEXES], **sel()),
            "causes": w.SelectMultiple(**sel()),
            "candidate": w.Dropdown(options=[("all patients", "all"), ("candidates only", "yes"),
                                             ("non-candidates only", "no")], value="all",
                                    description="Surgical candidates", **pick()),
            "symptom_bands": w.SelectMultiple(options=list(SYMPTOM_BANDS), **sel()),
            "outcome": w.Dropdown(options=[(v, k) for k, v in OUTCOMES.items()], value="leg_pain_change",
                                  description="Figure for", **pick()),
            "disclosure": w.Dropdown(options=[("internal (clinic team: counts 1-7 hidden)", "internal"),
                                              ("public (NHS HES rule: rounded to 5)", "public"),
                                              ("none (exact counts: analysts only)", "none")],
                                     value="internal", description="Disclosure control", **pick()),
        }
        #: the headings above the lists (a list's own description would take the list's width)
        self.list_titles = {"clinics": "Clinics", "modalities": "Modalities", "age_bands": "Age band",
                            "sexes": "Sex", "causes": "Cause", "symptom_bands": "Symptom duration, weeks"}
        for c in self.controls.values():
            c.style.description_width = "initial"
        self.load_button = w.Button(description="Open folder", icon="folder-open")
        self.save_button = w.Button(description="Save as report", icon="file", button_style="primary")
        self.style = w.HTML(str(explorer_style_html()))
        self.note = w.HTML(layout=lay())
        self.headline = w.HTML(layout=lay())
        self.itable = ITable(pd.DataFrame(), classes="display compact")
        self.marks = w.HTML(layout=lay())
        self.figure = w.HTML(layout=lay())
        self.progress = w.HTML(layout=lay())
        self.link = w.HTML(layout=lay())
        self._quiet = False
        self._ticket = 0  # the number of the latest figure asked for: only it may be shown
        self._shown = threading.Lock()
        self._worker = _FigureWorker(self._figure_done)
        self.load_button.on_click(lambda _b: self.load(self.controls["folder"].value))
        self.save_button.on_click(lambda _b: self.save_report())
        for name, c in self.controls.items():
            if name != "folder":
                c.observe(self._changed, names="value")
        self.load(folder)

    # ------------------------------------------------------------------ state

    def selection(self) -> Selection:
        """The current :class:`Selection` read from the controls."""
        c = self.controls

        def day(d):
            return d.isoformat() if isinstance(d, datetime.date) else None

        return Selection(
            clinics=tuple(c["clinics"].value), start_from=day(c["start_from"].value), start_to=day(c["start_to"].value),
            modalities=tuple(c["modalities"].value), reference=c["reference"].value or None,
            population=c["population"].value, horizon_days=int(c["horizon_days"].value),
            age_bands=tuple(c["age_bands"].value), sexes=tuple(c["sexes"].value), causes=tuple(c["causes"].value),
            candidate=c["candidate"].value, symptom_bands=tuple(c["symptom_bands"].value),
            outcome=c["outcome"].value, disclosure=c["disclosure"].value)

    def _clear(self) -> None:
        """Nothing of an earlier folder or selection stays on screen (after a failed open)."""
        self.state.records = None
        self.episodes = 0
        self._selected = self._composed = None
        with self._shown:  # a figure still being drawn for the old folder is not shown
            self._ticket += 1
            self.figure.value = ""
        self.headline.value = self.marks.value = self.link.value = self.progress.value = ""
        self._show_table(pd.DataFrame({"Modality": [], "Episodes": []}))

    def _show_table(self, frame: pd.DataFrame, *, caption: str = "") -> None:
        """The sortable table; "Overall" stays the first row whatever column is sorted."""
        self.table = frame
        rank = [0 if g == "Overall" else 1 for g in frame.iloc[:, 0]] if len(frame) else []
        ranked = frame.assign(_rank=rank)[["_rank", *frame.columns]]
        with warnings.catch_warnings():  # orderFixed is a DataTables option itables does not list
            warnings.simplefilter("ignore", SyntaxWarning)
            self.itable.update(ranked, caption=caption, orderFixed={"pre": [0, "asc"]},
                               columnDefs=[{"targets": [0], "visible": False}])

    def load(self, folder) -> None:
        """Open a data folder: fill the choices from the data and render."""
        where = Path(folder).expanduser()
        place = ("" if where.is_absolute() else
                 f" (a folder name without a leading / is read from {html.escape(str(Path.cwd()))}, "
                 f"the folder of this notebook: so {html.escape(str((Path.cwd() / where).resolve()))})")
        try:
            records = load_records(where)
        except DataProblemError as exc:
            self._clear()
            items = "".join(f"<li>{html.escape(str(p))}</li>" for p in exc.problems[:10])
            self.note.value = f"<b>{html.escape(str(folder))} has problems; fix them and open it again:</b><ul>{items}</ul>"
            return
        except (FileNotFoundError, NotADirectoryError, OSError):
            self._clear()
            self.note.value = (f"<b>No data folder at {html.escape(str(folder))}</b>{place}. Type the folder's "
                               "full path and press Open folder.")
            return
        self.state.records, self.state.folder = records, str(folder)
        ep = records.episodes
        labels = records.labels
        self._quiet = True
        try:
            c = self.controls
            c["clinics"].options = sorted(ep["clinic"].unique())
            c["clinics"].value = ()
            mods = sorted(ep["modality"].unique())
            c["modalities"].options = [(labels.get(m, m), m) for m in mods]
            c["modalities"].value = ()
            c["reference"].options = [("Most episodes", "")] + [(labels.get(m, m), m) for m in mods]
            c["reference"].value = ""
            c["causes"].options = [(code_label("cause", k), k) for k in sorted(ep["cause"].unique())]
            c["causes"].value = ()
            for name in self.list_titles:  # wide enough for the longest name: never cut off
                longest = max((len(str(o[0] if isinstance(o, tuple) else o)) for o in c[name].options), default=8)
                c[name].layout.width = f"{min(max(110, 8 * longest + 36), 330)}px"
        finally:
            self._quiet = False
        self.render()

    def _changed(self, _change) -> None:
        if not self._quiet:
            self.render()

    # ------------------------------------------------------------------ views

    def render(self) -> None:
        """Recompute everything shown for the current selection (headline, table, figure, note)."""
        from ._compose import ReportContent

        t0 = time.perf_counter()
        if self.state.records is None:
            return
        sel = self.selection()
        rule = disclosure_rule(sel.disclosure)
        # outcomes of every episode, derived once per outcome settings; a selection takes its rows
        key = (int(sel.horizon_days), sel.population)
        if getattr(self, "_all_outcomes_for", None) is not self.state.records or self._all_outcomes_key != key:
            self._all_outcomes = derive_outcomes(self.state.records, settings=sel.settings())
            self._all_outcomes_for, self._all_outcomes_key = self.state.records, key
        # the selected rows, and the report's composition of them, are kept while only the outcome shown (or,
        # for the rows, the disclosure or reference) changes: choosing another figure recomputes nothing else
        rows_key = (self.state.records, key, sel.clinics, sel.start_from, sel.start_to,
                    tuple((k, tuple(v)) for k, v in sorted(sel.where().items())))
        cached = getattr(self, "_selected", None)
        if cached is not None and cached[0][0] is rows_key[0] and cached[0][1:] == rows_key[1:]:
            records, out = cached[1]
        else:
            records, out = apply_selection(self.state.records, sel, outcomes=self._all_outcomes, lazy=True)
            self._selected, self._composed = (rows_key, (records, out)), None
        labels = records.labels
        self.episodes = len(out)
        self.note.value = html.escape(selection_note(sel, len(out), labels=labels, rule=rule))
        self.marks.value = f"<p class='physio-marks'>{html.escape(rule.marks)}</p>"
        if len(out) < rule.min_n or out["modality"].nunique() == 0:
            self.headline.value = ("<p>Too few episodes in this selection to show figures "
                                   f"(at least {rule.min_n} are needed). Widen the selection.</p>")
            self._show_table(pd.DataFrame({"Modality": [], "Episodes": []}))
            with self._shown:
                self._ticket += 1
                self.figure.value = ""
            self.state.last_seconds = self.state.figure_seconds = time.perf_counter() - t0
            return
        composed = getattr(self, "_composed", None)
        if composed is not None and composed[0] == (sel.disclosure, sel.reference):
            content = composed[1]
        else:
            content = ReportContent(records, settings=sel.settings(), rule=rule, reference=sel.reference, outcomes=out)
            self._composed = ((sel.disclosure, sel.reference), content)
        self.content = content
        self.headline.value = str(content.headline(imputed=False))
        self._show_table(content.outcome_frame(), caption=f"{OUTCOMES[sel.outcome]} and the other outcomes by modality")
        if len(out) >= BACKGROUND_EPISODES:
            with self._shown:
                self._ticket += 1
                self.figure.value = (f"<p class='physio-pending'>Drawing the figure for {len(out):,} episodes (its "
                                     "model is fitted to this selection; at this size that takes a few seconds) ...</p>")
            self._worker.submit((self._ticket, t0), lambda: self._draw(sel, content))
        else:
            with self._worker.lock:
                shown = self._draw(sel, content)
            with self._shown:
                self._ticket += 1
                self.figure.value = shown
            self.state.figure_seconds = time.perf_counter() - t0
        self.state.last_seconds = time.perf_counter() - t0

    def _figure_done(self, ticket, shown: str) -> None:
        """Show a figure drawn in the background, unless the selection changed since it was asked for."""
        number, t0 = ticket
        with self._shown:
            if number == self._ticket:
                self.figure.value = shown
                self.state.figure_seconds = time.perf_counter() - t0

    def wait_for_figure(self, timeout: float | None = None) -> bool:
        """Block until the figure of the latest update is shown (drawn in the background for large
        selections); False if *timeout* seconds passed first.

        Examples
        --------
        >>> from analysis.app import Explorer
        >>> ex = Explorer()
        >>> ex.controls["outcome"].value = "recovered"
        >>> ex.wait_for_figure(60), "<img" in ex.figure.value
        (True, True)
        """
        return self._worker.wait(timeout)

    def _draw(self, sel: Selection, content) -> str:
        """The report's figure for the chosen outcome (the same composition as the report), or a plain sentence."""
        try:
            if sel.outcome == "leg_pain_change":
                return str(content.trajectories())
            if sel.outcome == "leg_pain_at_day":
                return "".join(str(p) for p in content.fixed_days())
            if sel.outcome == "responder":
                return str(content.rates("responder"))
            if sel.outcome == "recovered":
                if content.outcomes["modality"].nunique() < 2:
                    return "<p>Choose at least two modalities (or none, for all) to compare recovery.</p>"
                return str(content.forest("recovered"))
            if sel.outcome in ("odi_change", "back_pain_change", "sessions", "days_to_discharge"):
                parts = content.secondary()
                # the disability figure and its adjusted comparison with ODI; the table for every choice
                shown = parts if sel.outcome == "odi_change" else parts[1:2]
                return "".join(str(p) for p in shown)
            if sel.outcome == "confounding":
                if content.outcomes["modality"].nunique() < 2:
                    return "<p>Choose at least two modalities (or none, for all) to compare whom they treated.</p>"
                return "".join(str(p) for p in [content.overlap(), content.love(), *content.doubly_robust()])
            return str(content.survival())
        except (ValueError, KeyError, IndexError, ZeroDivisionError):  # never a traceback for the clinician
            return ("<p>This selection is too small or too uneven for this figure. Add clinics, modalities or "
                    "subgroups, or widen the period.</p>")

    # ------------------------------------------------------------------ report

    def save_report(self) -> Path | None:
        """Write the clinic-meeting report for exactly the current selection; show a link to it."""
        from ._report import build_report

        if self.state.records is None:
            return None
        sel = self.selection()
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        out = self.reports_dir / f"explorer-{datetime.datetime.now():%Y%m%d-%H%M%S}.html"
        self.save_button.disabled = True
        self.link.value = ""

        class _Progress(io.StringIO):
            def __init__(self, widget):
                super().__init__()
                self.widget = widget

            def write(self, text):
                if text.strip():
                    self.widget.value = f"<i>{html.escape(text.strip())}</i>"
                return len(text)

        try:
            self.progress.value = "<i>Building the report (about half a minute) ...</i>"
            selected, _ = apply_selection(self.state.records, sel)  # in memory: not read or checked again
            path = build_report(self.state.folder, out, clinics=list(sel.clinics) or None, start_from=sel.start_from,
                                start_to=sel.start_to, horizon_days=sel.horizon_days, population=sel.population,
                                reference=sel.reference, disclosure=sel.disclosure, where=sel.where(),
                                progress=_Progress(self.progress), checked=selected)
        except (ValueError, RuntimeError, DataProblemError) as exc:
            self.progress.value = f"<b>No report written:</b> {html.escape(str(exc))}"
            return None
        finally:
            self.save_button.disabled = False
        self.progress.value = "Report written."
        href = lab_href(path, self.lab_root)
        if href is None:
            self.link.value = (f"Saved as {html.escape(str(path))}: outside the folder JupyterLab shows, so open it "
                               "from your computer's file manager.")
        else:
            self.link.value = (f'<a href="{html.escape(href)}" target="_blank" rel="noopener">Open {path.name}</a> '
                               f"(saved as {html.escape(str(path))})")
        return path

    # ------------------------------------------------------------------ layout

    def widget(self):
        """The whole explorer as one widget box, for ``display``: rows wrap to the width JupyterLab gives it."""
        w, c = self.w, self.controls

        def row(*children):
            return w.Box(list(children), layout=w.Layout(display="flex", flex_flow="row wrap", gap="6px 16px",
                                                         align_items="flex-start", width="auto"))

        def titled(name):
            return w.VBox([w.HTML(f"<div class='physio-label'>{html.escape(self.list_titles[name])}</div>"),
                           c[name]])

        box = w.VBox([
            self.style,
            row(c["folder"], self.load_button),
            row(c["outcome"], c["reference"], c["disclosure"]),
            row(*(titled(n) for n in ("clinics", "modalities", "age_bands", "sexes", "causes", "symptom_bands"))),
            row(c["candidate"], c["start_from"], c["start_to"], c["population"], c["horizon_days"]),
            self.note, self.headline, self.itable, self.marks, self.figure,
            row(self.save_button, self.progress), self.link,
        ], layout=w.Layout(width="auto"))
        box.add_class("physio-explorer")
        return box

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())

