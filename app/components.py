"""Small building blocks shared by the pages: the problem note, inline images, tables."""

from __future__ import annotations

import base64
import functools
import io
import logging

import numpy as np
from dash import ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from PIL import Image

from sgt_probe.report.format import ReportError

log = logging.getLogger(__name__)

# What a missing or damaged report, or a section of it, raises while a page reads it.
REPORT_PROBLEMS = (ReportError, LookupError, ValueError, TypeError)


def guarded(note: bool = True):
    """Turn a report problem inside a callback into a one-line note on the page.

    With `note`, the callback's first output is the page's note div: on a problem it gets the
    message and every other output is left as it was. Without, the callback just does not
    update (the page's setup callback has already shown the note).
    """

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args):
            try:
                return fn(*args)
            except REPORT_PROBLEMS as e:
                log.warning("report problem in %s: %s", fn.__name__, e, exc_info=True)
                if not note:
                    raise PreventUpdate from None
                message = str(e) if isinstance(e, ReportError) else f"{type(e).__name__}: {e}"
                outputs = ctx.outputs_list  # a dict, not a list, for a single output
                if not isinstance(outputs, list):
                    return problem(message)
                return (problem(message), *[no_update] * (len(outputs) - 1))

        return inner

    return wrap


def problem(message: str) -> html.Div:
    return html.Div([html.Strong("Cannot show this report: "), message], className="problem")


def control(label: str, component, wide: bool = False) -> html.Div:
    """A labelled input in a page's control row."""
    return html.Div(
        [html.Label(label, htmlFor=component.id), component],
        className="control wide" if wide else "control",
    )


def graph(id_: str, height: int = 380) -> dcc.Graph:
    # A fixed min-height keeps the page from jumping while figures arrive.
    return dcc.Graph(id=id_, config={"displaylogo": False}, style={"minHeight": f"{height}px"})


def png_uri(image: np.ndarray) -> str:
    """An inline `data:` URI for a uint8 [H, W, 3] array: no file route to serve or guard."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def table(rows: list[dict], formats: dict[str, str] | None = None) -> html.Table:
    """A plain table from a list of same-keyed dicts; floats formatted by column."""
    formats = formats or {}
    if not rows:
        return html.Table()
    cols = list(rows[0])

    def cell(col, value):
        if isinstance(value, float):
            return f"{value:{formats.get(col, '.3f')}}"
        return "—" if value is None else str(value)

    return html.Table(
        [
            html.Thead(html.Tr([html.Th(c.replace("_", " ")) for c in cols])),
            html.Tbody([html.Tr([html.Td(cell(c, r.get(c))) for c in cols]) for r in rows]),
        ],
        className="table",
    )
