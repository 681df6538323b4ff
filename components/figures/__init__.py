"""Pure Plotly builders, no Streamlit: common.py holds the one heatmap builder and the sizes every figure shares
(presentation sizing, hover text, colour scales); each other module the figures of one view."""
