"""One module per dashboard page; each is registered with st.Page in app/Home.py."""
