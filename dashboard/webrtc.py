"""Streamlit adapter for the live camera: wires :class:`core.live.LiveProcessor` to ``streamlit_webrtc``.

Everything here runs in Streamlit's script thread. The frame callback handed to ``webrtc_streamer`` is
``LiveProcessor.recv`` (core/live/processor.py), which never calls Streamlit; the page learns what happened by
polling ``processor.stats()`` once a second in a fragment (wording: dashboard/live.py).

Where the models run is ``Settings.live_analysis`` (``FACEDASH_LIVE_ANALYSIS``; a bad value is a ConfigError the
router shows before any page runs):

- ``process`` (default): one :class:`core.live.ProcessAnalyzer` per server and settings, cached here with
  ``st.cache_resource`` (started by the first camera frame, its child process stopped when the cache releases it).
  Smooth video: the Dlib embedder cannot block the callback thread. Costs a second copy of the models in memory
  (about 0.6-1 GiB).
- ``thread``: :class:`core.live.EngineAnalyzer` around the dashboard's shared in-process engine
  (``dashboard.resources.engine``). Less memory, but each embedding holds the GIL for 60-150 ms, so the returned
  video stutters while faces are analysed.
"""

from __future__ import annotations

import logging

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.config import Settings
from core.live import EngineAnalyzer, LiveAnalyzer, LiveProcessor, LiveStats, ProcessAnalyzer
from dashboard.live import describe

log = logging.getLogger(__name__)

WEBRTC_KEY = "live-camera"
PROCESSOR_KEY = "live_processor"
RECORDING_KEY = "live_recording"

#: Video only (no microphone); 640 px wide is plenty for faces and keeps analysis fast.
MEDIA_CONSTRAINTS = {
    "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 25, "max": 30}},
    "audio": False,
}


def _close_analyzer(analyzer: ProcessAnalyzer) -> None:
    analyzer.close()


@st.cache_resource(show_spinner=False, max_entries=1, on_release=_close_analyzer)
def _analysis_process(key: str, _settings: Settings) -> ProcessAnalyzer:
    """One analysis process per server and settings (a settings change releases the old one, which stops it)."""
    return ProcessAnalyzer(_settings)


def analyzer(settings: Settings) -> LiveAnalyzer:
    """What runs the models for the live page (``settings.live_analysis``): a child process or the shared engine."""
    if settings.live_analysis == "process":
        return _analysis_process(settings.model_dump_json(), settings)
    from dashboard import resources

    return EngineAnalyzer(resources.engine(settings))


def session_processor(settings: Settings, store) -> LiveProcessor:
    """This browser session's processor (kept in session_state across reruns), updated to the current settings."""
    models = analyzer(settings)
    processor = st.session_state.get(PROCESSOR_KEY)
    if not isinstance(processor, LiveProcessor):
        processor = LiveProcessor(
            models, store, interval_s=settings.observation_interval_s,
            recording=st.session_state.get(RECORDING_KEY, True), status_file=settings.live_status_file,
        )
        st.session_state[PROCESSOR_KEY] = processor
    else:
        processor.configure(analyzer=models, sink=store, interval_s=settings.observation_interval_s)
    return processor


def camera(processor: LiveProcessor, settings: Settings):
    """The WebRTC widget (START / STOP, device selection). Frames go through ``processor.recv``.

    STOP also ends the analysis worker from here (``on_video_ended`` alone can come late: aiortc closes the
    peer connection with a 1 s timeout and the track ends whenever that finishes). A frame arriving later
    simply restarts the worker.
    """
    ctx = webrtc_streamer(
        key=WEBRTC_KEY,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": settings.ice_servers},
        media_stream_constraints=MEDIA_CONSTRAINTS,
        video_frame_callback=processor.recv,
        on_video_ended=processor.on_ended,
        async_processing=True,
        video_html_attrs={"autoPlay": True, "controls": False, "muted": True, "style": {"width": "100%"}},
    )
    if not ctx.state.playing and not ctx.state.signalling and processor.running:
        processor.stop(wait=False)
    return ctx


def recording_toggle(processor: LiveProcessor, settings: Settings) -> bool:
    on = st.toggle(
        "Record observations to the timeline", value=True, key=RECORDING_KEY,
        help=f"While on, each recognised worker gets at most one row every {settings.observation_interval_s:g} s "
             "(FACEDASH_OBSERVATION_INTERVAL_S). Unknown faces and video frames are never stored.",
    )
    processor.set_recording(on)
    return on


def live_notice(settings: Settings) -> str:
    """One sentence on what is analysed and why (the full privacy notice is the expander below it)."""
    text = "Faces in this camera stream are analysed on the server to recognise enrolled workers (others: *unknown*)"
    if settings.emotion_active:
        purpose = settings.emotion_purpose_text.strip()
        text += (f" and to estimate their emotion for the declared **{settings.emotion_purpose}** purpose"
                 + (f": _{purpose}_" if purpose else ""))
    return text + ". Video frames are not stored."


def _recording_badge(stats: LiveStats, label: str) -> None:
    if stats.recording:
        st.badge(label, icon=":material/fiber_manual_record:", color="red")
    else:
        st.badge(label, icon=":material/pause_circle:", color="gray")


def stats_panel(processor: LiveProcessor, live: bool) -> None:
    """The figures, refreshed every second while the camera runs (``live``); with the camera off the page does
    not rerun every second (a rerun racing a click could swallow it, and there is nothing new to show)."""
    st.fragment(run_every=1 if live else None)(_stats_panel)(processor)


def _stats_panel(processor: LiveProcessor) -> None:
    """Output and analysis rates, time to name, latency, per-stage times, faces and recording state."""
    stats = processor.stats()
    text = describe(stats)
    _recording_badge(stats, text["recording"])
    if stats.starting:
        st.info("Loading the face models in the analysis process (about 10 s the first time)...",
                icon=":material/hourglass_top:")
    output, analysis, naming, latency = st.columns(4)
    output.metric("Output rate (frames/s)", f"{stats.output_fps:.1f}",
                  help="Frames returned to the browser per second, each with the latest boxes.")
    analysis.metric("Analysis rate (frames/s)", f"{stats.processing_fps:.1f}",
                    help="Frames on which faces were detected per second (the newest frame each time); boxes "
                         "follow the faces at this rate.")
    naming.metric("Time to name", text["identity_latency"],
                  help="Median time from a face's first detection to its name (the vote over its first "
                       "identifications), over recent faces.")
    latency.metric("Latency", text["latency"],
                   help=f"Capture to result of the latest analysis; p95 of recent results {text['latency_p95']}.")
    st.markdown(f"**Faces now:** {text['faces']}")
    st.caption(
        f"{text['frames']} · callback p99 {text['callback']} · {text['rows']} · {text['models']}"
    )
    st.caption(f"Per analysed frame (median): {text['stages']} · {text['identified']}")
    if stats.last_error:
        st.warning(stats.last_error, icon=":material/warning:")
