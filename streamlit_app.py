"""FaceDash: workplace face recognition (and, only for a declared medical/safety purpose, emotion) dashboard.

Run: ``streamlit run streamlit_app.py``. This file is the router: it applies st.secrets, checks the settings,
runs the retention rule once per process, signs the user in (dashboard/auth.py: nothing else is reachable before)
and hands over to the selected page among those the user's role may open (st.navigation).
"""

import streamlit as st

from core.errors import FaceDashError
from dashboard import auth, navigation, resources
from dashboard.settings import current_settings


def main() -> None:
    st.set_page_config(page_title="FaceDash", page_icon=":material/face:", layout="wide")

    try:
        settings = current_settings()  # (pages use resources.settings(), which also checks they run under this router)
        resources.startup(settings)
        actor = auth.gate(settings)  # the setup or sign-in page, and a stop, until someone is signed in
    except FaceDashError as exc:  # a bad FACEDASH_* value or secret, or an unusable store: say which, stop

        def cannot_start(message: str = str(exc)) -> None:
            st.title("FaceDash cannot start")
            st.error(f"The app cannot start: {message}", icon=":material/error:")
            st.caption("Fix the FACEDASH_* environment variable, .streamlit/secrets.toml or data/settings.json named "
                       "above, then reload the page.")

        # st.navigation must still run: without it Streamlit would fall back to running pages/ files directly
        st.navigation([st.Page(cannot_start, title="Configuration error", icon=":material/error:")]).run()
        st.stop()

    page = st.navigation(navigation.pages(actor))
    with st.sidebar:
        state = "on (" + str(settings.emotion_purpose) + ")" if settings.emotion_active else "off"
        st.caption(f"Emotion analysis: **{state}** · retention {settings.retention_days} days")
        auth.account_box(settings, actor)
    page.run()


# A multiprocessing child (the live page's analysis process, started with "spawn") re-imports this file as
# __mp_main__: it must not run the app (no sign-in gate, no retention, no pages) there.
if __name__ != "__mp_main__":
    main()
