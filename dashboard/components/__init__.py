"""Reusable pieces of the dashboard's pages: charts (Plotly figure builders), tables, empty states, privacy notice.

Figure builders in :mod:`dashboard.components.charts` are plain functions (data in, ``plotly`` figure out) so they
can be tested without a browser; :func:`dashboard.components.charts.show` puts one on the page.
"""
