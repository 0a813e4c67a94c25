"""Still pages: switch off Streamlit's CSS animations and transitions (the server's default).

While a script runs, Streamlit animates its "Running" indicator, fades stale elements and spins
icons. Each of those frames is painted by the browser; without GPU compositing (a laptop browser in
power-saving mode, a school PC, or the load benchmark's headless Chromium) that is CPU work repeated
in every open tab. bench/load.py, ten tabs uploading at once on a 2-core machine, measured Chromium at
4.4-7.1 CPU-s with the animations and 3.2-4.5 CPU-s without (README, Classroom load).

The switch is app.server_config.animations_enabled (VIT_CLASSROOM_ANIMATIONS=on brings them back).
"""

import streamlit as st

STILL_PAGE_CSS = (
    "<style>"
    "*, *::before, *::after { animation: none !important; transition: none !important; }"
    "</style>"
)  # a style-only st.html block: applied to the page, nothing is drawn


def apply_motion_setting(animations: bool) -> None:
    """Called once per script run by the entry point, before any page draws."""
    if not animations:
        st.html(STILL_PAGE_CSS)
