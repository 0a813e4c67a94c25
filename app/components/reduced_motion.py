"""Still pages: switch off Streamlit's CSS animations and transitions (the server's default).

While a script runs, Streamlit animates its "Running" indicator, fades stale elements and spins
icons. Each of those frames is painted by the browser; without GPU compositing (a laptop browser in
power-saving mode, a school PC, or the load benchmark's headless Chromium) that is CPU work repeated
in every open tab. bench/load.py, ten tabs uploading at once on a 2-core machine, measured Chromium at
4.4-7.1 CPU-s with the animations and 3.2-4.5 CPU-s without (README, Classroom load).

Stale elements also keep their full opacity. Streamlit fades the elements of a rerunning script or
fragment only after a delay, through a transition, so quick reruns never blink; with transitions off,
the fade came at once, and the Train page's live charts (a fragment rerun every 1.5 s) blinked with
every refresh and were painted twice more each time: the teacher's Train tab used 0.32 CPU-s per
second while a run trained, and 0.29 without the fade. The "Running" status still shows a rerun.

The switch is app.services.server_config.animations_enabled (VIT_CLASSROOM_ANIMATIONS=on brings them back).
"""

import streamlit as st

STILL_PAGE_CSS = (
    "<style>"
    "*, *::before, *::after { animation: none !important; transition: none !important; }"
    '[data-stale="true"] { opacity: 1 !important; }'
    "</style>"
)  # a style-only st.html block: applied to the page, nothing is drawn


def apply_motion_setting(animations: bool) -> None:
    """Called once per script run by the entry point, before any page draws."""
    if not animations:
        st.html(STILL_PAGE_CSS)
