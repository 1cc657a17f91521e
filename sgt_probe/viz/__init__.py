"""Drawing a report: figure builders, the report-to-figure views, report.html and the CLI tables.

The dashboard (app/), the paper figures (analyses/) and `sgt-probe compare` all draw through
these modules, which read only the report contract (`sgt_probe.report`).
"""
