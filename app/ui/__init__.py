"""The page's Streamlit code, one module per part of the page; the only place besides the page that imports streamlit.

``app/streamlit_app.py`` is the frame (resources, sidebar, tabs); each module here renders one part from the
session's ``PageState`` and the plain functions of the ``app`` package.
"""
