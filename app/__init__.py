"""ViT Classroom dashboard: Streamlit pages that arrange widgets around `vitcore` calls.

Run it with `streamlit run app/Home.py` from the repository root.
"""
