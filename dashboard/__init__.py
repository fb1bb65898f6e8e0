"""Streamlit adapter for the face engine in ``core``.

``dashboard`` turns core's values into Streamlit widgets and charts; it holds no analysis logic of its own:

- :mod:`dashboard.settings`  maps ``st.secrets`` onto ``FACEDASH_*`` variables, then loads core's Settings.
- :mod:`dashboard.resources` models and the timeline store, loaded once per process (``st.cache_resource``),
  and cached queries (``st.cache_data``).
- :mod:`dashboard.uploads`, :mod:`dashboard.enrollment`, :mod:`dashboard.history`, :mod:`dashboard.evaluation`,
  :mod:`dashboard.admin`: the actions and data preparation the pages call.
- :mod:`dashboard.components`: reusable charts, tables, empty states and the privacy notice.

Pages in ``pages/`` are thin: layout and wiring only.
"""

# Native-library load order: importing aiortc's libsrtp binding (pylibsrtp) AFTER TensorFlow segfaults the process
# (checked: `import tensorflow, pylibsrtp` -> SIGSEGV; the other order works). The live page imports aiortc and the
# other pages load TensorFlow, in any order a user clicks, so the binding is loaded first, before any model.
import pylibsrtp  # noqa: E402,F401  (side effect: load order)

