"""Attention Lab's UI: one module per view, pure figure builders, and the thin Streamlit layer."""
