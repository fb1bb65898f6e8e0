"""Plotly figure builders. Each takes a DataFrame/dict in the documented shape and returns a ``go.Figure``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.types import EMOTIONS

#: One colour per FER-2013 class, used on every chart so a colour always means the same emotion.
EMOTION_COLORS = {
    "angry": "#d62728",
    "disgust": "#8c9f3b",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#9e9e9e",
}
VALENCE_COLORS = {"positive": "#2ca02c", "neutral": "#9e9e9e", "negative": "#d62728"}
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.18), height=360)


def _finish(fig: go.Figure, title: str, **layout) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), **{**_LAYOUT, **layout})
    return fig


def show(fig: go.Figure, key: str | None = None) -> None:
    import streamlit as st

    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


# ------------------------------------------------------------------------------------------ history
def emotion_timeline(frame: pd.DataFrame, resolution: str, title: str = "Emotion timeline") -> go.Figure:
    """Stacked area of the 7 mean class probabilities per bucket (``queries.worker_timeline`` columns)."""
    fig = go.Figure()
    data = _with_empty_buckets(frame.dropna(subset=list(EMOTIONS), how="all"), resolution)
    for emotion in EMOTIONS:
        fig.add_trace(go.Scatter(
            x=data["time"], y=data[emotion], name=emotion, mode="lines", stackgroup="scores",
            line=dict(width=0.5, color=EMOTION_COLORS[emotion]),
            hovertemplate="%{x}<br>" + emotion + ": %{y:.0%}<extra></extra>",
        ))
    fig.update_yaxes(title="mean probability", range=[0, 1], tickformat=".0%")
    return _finish(fig, f"{title} ({resolution})")


_FREQ = {"minute": "min", "hour": "h", "day": "D"}
MAX_FILLED_BUCKETS = 5000


def _with_empty_buckets(frame: pd.DataFrame, resolution: str) -> pd.DataFrame:
    """Add all-zero rows for buckets without observations (nights, weekends) so the stacked area shows a gap
    there instead of a straight line bridging it. Raw data and very long ranges are left as they are."""
    freq = _FREQ.get(resolution)
    if freq is None or len(frame) < 2:
        return frame
    times = pd.DatetimeIndex(frame["time"])
    grid = pd.date_range(times.min(), times.max(), freq=freq)
    if len(grid) > MAX_FILLED_BUCKETS or len(grid) <= len(frame):
        return frame
    grid = grid.union(times)  # buckets cut in a local time zone may be offset from the UTC grid
    filled = frame.set_index("time").reindex(grid)
    filled[list(EMOTIONS)] = filled[list(EMOTIONS)].fillna(0.0)
    return filled.rename_axis("time").reset_index()


def _break_long_gaps(frame: pd.DataFrame, window: str) -> pd.DataFrame:
    """Insert an empty row where two buckets are further apart than the smoothing window (the line breaks there
    instead of bridging a night or a weekend)."""
    if len(frame) < 2:
        return frame
    times = pd.DatetimeIndex(frame["time"])
    gaps = np.flatnonzero((times[1:] - times[:-1]) > pd.Timedelta(window))
    if not len(gaps):
        return frame
    breaks = pd.DataFrame({"time": times[gaps] + pd.Timedelta(window) / 2})
    return pd.concat([frame, breaks], ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)


def valence_chart(frame: pd.DataFrame, window: str, title: str = "Valence over time") -> go.Figure:
    """Bucket valence (points) and its trailing average (line); ``queries.smoothed_valence`` columns."""
    frame = _break_long_gaps(frame, window)
    fig = go.Figure()
    fig.add_hline(y=0, line=dict(color="#bbbbbb", width=1))
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["valence_score"], mode="markers", name="per bucket",
                             marker=dict(size=4, color="#7aa6c2", opacity=0.6),
                             hovertemplate="%{x}<br>valence %{y:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["valence_smooth"], mode="lines", name=f"trailing {window} mean",
                             line=dict(width=2.5, color="#1f4e79"),
                             hovertemplate="%{x}<br>smoothed %{y:.2f}<extra></extra>"))
    fig.update_yaxes(title="P(positive) - P(negative)", range=[-1, 1])
    return _finish(fig, title)


def label_distribution(frame: pd.DataFrame, title: str = "Label distribution") -> go.Figure:
    """Bar per emotion: share of observations whose top label it is (``queries.label_distribution``)."""
    fig = go.Figure(go.Bar(
        x=list(frame["label"]), y=list(frame["share"].fillna(0)), marker_color=[EMOTION_COLORS[e] for e in frame["label"]],
        text=[f"{n}" for n in frame["n"]], textposition="outside",
        hovertemplate="%{x}: %{y:.1%} (%{text} observations)<extra></extra>",
    ))
    fig.update_yaxes(title="share of observations", tickformat=".0%")
    return _finish(fig, title, showlegend=False)


def weekday_hour_heatmap(frame: pd.DataFrame, value: str = "valence_score", title: str | None = None) -> go.Figure:
    """Hour-of-day x weekday grid (``queries.weekday_hour_heatmap``) of mean valence or observation counts."""
    from core.timeline.queries import WEEKDAY_NAMES

    grid = frame.pivot(index="weekday_name", columns="hour", values=value).reindex(index=list(WEEKDAY_NAMES),
                                                                                  columns=range(24))
    if value == "valence_score":
        # symmetric around 0 so that colour means the sign; scaled to the data so differences stay visible
        span = float(np.nanmax(np.abs(grid.to_numpy()))) if np.isfinite(grid.to_numpy()).any() else 1.0
        span = min(1.0, max(0.2, span))
        colorscale, zmin, zmax, label = "RdYlGn", -span, span, "mean valence"
    else:
        colorscale, zmin, zmax, label = "Blues", 0, None, "observations"
        grid = grid.replace(0, np.nan)
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[f"{h:02d}" for h in grid.columns], y=list(grid.index), colorscale=colorscale,
        zmin=zmin, zmax=zmax, colorbar=dict(title=label), hoverongaps=False,
        hovertemplate="%{y} %{x}:00<br>" + label + ": %{z:.2f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="hour of day")
    return _finish(fig, title or f"{label.capitalize()} by weekday and hour")


def presence_timeline(frame: pd.DataFrame, resolution: str, title: str = "Presence") -> go.Figure:
    """Observations per bucket (the chart shown when emotion analysis is off); ``worker_timeline`` columns."""
    fig = go.Figure(go.Bar(x=frame["time"], y=frame["n"], marker_color="#4c78a8",
                           hovertemplate="%{x}<br>%{y} observations<extra></extra>"))
    fig.update_yaxes(title="observations")
    return _finish(fig, f"{title} ({resolution})", showlegend=False)


def team_valence(summary: pd.DataFrame, names: dict[str, str]) -> go.Figure:
    """Mean valence per worker with the share of positive/negative observations."""
    data = summary.dropna(subset=["valence_score"])
    who = [names.get(w, w) for w in data["worker_id"]]
    fig = go.Figure()
    for valence in ("positive", "neutral", "negative"):
        fig.add_trace(go.Bar(y=who, x=data[f"share_{valence}"], name=valence, orientation="h",
                             marker_color=VALENCE_COLORS[valence],
                             hovertemplate="%{y}: %{x:.0%} " + valence + "<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", title="share of observations")
    return _finish(fig, "Valence mix per worker", height=max(220, 60 + 40 * len(who)))


# ------------------------------------------------------------------------------------------ uploads (video)
def video_emotion_timeline(rows: pd.DataFrame) -> go.Figure:
    """One panel per person: the 7 class probabilities against video time. ``rows``: second, person, 7 scores."""
    from plotly.subplots import make_subplots

    people = list(dict.fromkeys(rows["person"]))
    fig = make_subplots(rows=len(people), cols=1, shared_xaxes=True, vertical_spacing=0.08 if len(people) > 1 else 0,
                        subplot_titles=[f"<b>{p}</b> ({int((rows['person'] == p).sum())} observations)" for p in people])
    for row, person in enumerate(people, start=1):
        data = rows[rows["person"] == person].sort_values("second")
        for emotion in EMOTIONS:
            fig.add_trace(go.Scatter(
                x=data["second"], y=data[emotion], name=emotion, legendgroup=emotion, showlegend=row == 1,
                mode="lines+markers", marker=dict(size=4), line=dict(color=EMOTION_COLORS[emotion], width=1.5),
                hovertemplate=person + "<br>%{x:.1f} s: " + emotion + " %{y:.0%}<extra></extra>",
            ), row=row, col=1)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=row, col=1)
    fig.update_xaxes(title="video time (s)", row=len(people), col=1)
    for annotation in fig.layout.annotations:
        annotation.update(x=0, xanchor="left", font=dict(size=13))
    return _finish(fig, "Emotion per person over the video", height=max(320, 90 + 200 * len(people)))


def video_presence(rows: pd.DataFrame) -> go.Figure:
    """When each person (or an unknown face) was seen in the video."""
    people = list(dict.fromkeys(rows["person"]))
    fig = px.scatter(rows, x="second", y="person", color="person", category_orders={"person": people})
    fig.update_traces(marker=dict(size=9, symbol="line-ns-open", line=dict(width=2)))
    fig.update_xaxes(title="video time (s)")
    fig.update_yaxes(title="")
    return _finish(fig, "Who was seen when", showlegend=False, height=max(220, 80 + 45 * len(people)))
