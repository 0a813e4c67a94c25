"""The dashboard's helpers that import no Streamlit: run lists and curves, starting and controlling runs,
uploads, paths, server settings and the Attention lab's experiments. Pages (app/views) and their Streamlit
glue (app/state.py, app/live_curves.py, app/components) call these; these never call back up.
"""
